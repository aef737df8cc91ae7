/* shiftlog: the one version string of every binary (the services' --version,
 * `shiftlog --version`, the shiftlog_build_info metric, the first log line):
 * a release changes it here, nowhere else. */
#ifndef SL_VERSION_H
#define SL_VERSION_H

#define SHIFTLOG_VERSION "0.1.0"

/* The exit codes every binary documents in its --help (sl_service.h, cli/). */
#define SL_EXIT_CODES_HELP                                                                   \
    "exit codes:\n"                                                                          \
    "  0  done (or stopped by SIGTERM/SIGINT)\n"                                             \
    "  1  runtime failure (the log says why)\n"                                              \
    "  2  usage or configuration error\n"                                                    \
    "  3  a server refused for good: authentication, missing database or privilege\n"

#endif
