/* shiftlog: the process_* metrics every Prometheus client library exports
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds, process_max_fds), read from /proc at each scrape.
 *
 * Linux only; elsewhere (no /proc) the series stay at 0. */
#ifndef SL_PROCSTAT_H
#define SL_PROCSTAT_H

#include "sl_metrics.h"

/* Registers the series in m and installs the render hook that refreshes
 * them (sl_metrics_on_render: m's only hook). */
void sl_procstat_register(sl_metrics_t *m);

#endif
