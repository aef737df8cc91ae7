/* shiftlog: process_* metrics from /proc (see sl_procstat.h). */
#include "sl_procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct procstat_s {
    sl_metric_t *cpu, *rss, *vsz, *start, *fds, *max_fds;
} procstat_t;

/* The system's boot time (btime of /proc/stat), seconds since the epoch; 0 if unknown. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    double bt = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "btime ", 6) == 0) {
            bt = strtod(line + 6, NULL);
            break;
        }
    fclose(f);
    return bt;
}

/* Fields of /proc/self/stat after the command name, which may hold spaces
 * and parentheses: parsing starts after its last ')'. Field 3 (state) is
 * the first after it; utime is 14, stime 15, starttime 22, vsize 23, rss 24. */
static void read_stat(procstat_t *p)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    if (!s)
        return;
    s++;
    unsigned long long v[25] = {0};
    char *save = NULL;
    int field = 3;
    for (char *tok = strtok_r(s, " ", &save); tok && field <= 24;
         tok = strtok_r(NULL, " ", &save), field++)
        v[field] = strtoull(tok, NULL, 10);
    double tick = (double)sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tick <= 0)
        tick = 100;
    sl_metric_set(p->cpu, (double)(v[14] + v[15]) / tick);
    sl_metric_set(p->vsz, (double)v[23]);
    sl_metric_set(p->rss, (double)v[24] * (double)page);
    double bt = boot_time();
    if (bt > 0)
        sl_metric_set(p->start, bt + (double)v[22] / tick);
}

static void read_fds(procstat_t *p)
{
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                n++;
        closedir(d);
        sl_metric_set(p->fds, (double)(n - 1));   /* not the directory's own fd */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        sl_metric_set(p->max_fds, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
}

static void refresh(void *ctx, sl_metrics_t *m)
{
    (void)m;
    read_stat(ctx);
    read_fds(ctx);
}

void sl_procstat_register(sl_metrics_t *m)
{
    /* One per process, alive as long as the process (the registry keeps the hook). */
    static procstat_t p;
    p.cpu = sl_metrics_counter_total(m, "process_cpu_seconds_total",
                                     "Total user and system CPU time spent in seconds.", NULL);
    p.rss = sl_metrics_gauge(m, "process_resident_memory_bytes",
                             "Resident memory size in bytes.", NULL);
    p.vsz = sl_metrics_gauge(m, "process_virtual_memory_bytes",
                             "Virtual memory size in bytes.", NULL);
    p.start = sl_metrics_gauge(m, "process_start_time_seconds",
                               "Start time of the process since unix epoch in seconds.", NULL);
    p.fds = sl_metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL);
    p.max_fds = sl_metrics_gauge(m, "process_max_fds",
                                 "Maximum number of open file descriptors.", NULL);
    sl_metrics_on_render(m, refresh, &p);
}
