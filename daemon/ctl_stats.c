/* rectifyctl stats [--config FILE] [--json] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/config.h"
#include "rectify/stats.h"

static int cmd_stats(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *path = "/etc/rectify/rectify.conf";
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
    switch (c) {
    case 'c': path = optarg; break;
    case 'j': json = 1; break;
    case 'h':
      printf("usage: rectifyctl stats [--config FILE] [--json]\n\n"
             "Batch totals, quarantine reasons, fixes by generator, LLM call reduction and\n"
             "audit chain heads, from the database named in FILE.\n");
      return 0;
    default: return 2;
    }
  }
  char err[1024];
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "rectifyctl stats: %s\n", err);
    return 2;
  }
  PGconn *conn = rf_stats_connect(cfg, "rectifyctl-stats", err, sizeof(err));
  rf_config_free(cfg);
  if (conn == NULL) {
    fprintf(stderr, "rectifyctl stats: %s\n", err);
    return 2;
  }
  rf_buf_t out = RF_BUF_INIT;
  int rc = rf_stats_report(conn, json, &out, err, sizeof(err));
  PQfinish(conn);
  if (rc) {
    fprintf(stderr, "rectifyctl stats: %s\n", err);
    rf_buf_free(&out);
    return 2;
  }
  fwrite(out.data, 1, out.len, stdout);
  rf_buf_free(&out);
  return 0;
}

RF_CTL_COMMAND(stats, "stats", "stats [--config FILE] [--json]",
               "totals, reasons, generators, LLM call reduction, chain heads", cmd_stats)
