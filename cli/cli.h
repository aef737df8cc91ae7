/* shiftlog command: subcommand entry points (argv[0] is the subcommand). */
#ifndef SL_CLI_H
#define SL_CLI_H

int cli_cat_main(int argc, char **argv);

#endif
