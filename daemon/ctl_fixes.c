/* rectifyctl fixes list|show|revoke - the fix cache (rectify.fixes). The work
 * is in lib/fixcache.c; this file parses arguments. */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/config.h"
#include "rectify/error.h"
#include "rectify/fixcache.h"
#include "rectify/stats.h"

static PGconn *connect_db(const char *cmd, const char *path) {
  char err[1024];
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "rectifyctl %s: %s\n", cmd, err);
    return NULL;
  }
  PGconn *conn = rf_stats_connect(cfg, "rectifyctl-fixes", err, sizeof(err));
  rf_config_free(cfg);
  if (conn == NULL)
    fprintf(stderr, "rectifyctl %s: %s\n", cmd, err);
  return conn;
}

static int finish(const char *cmd, int rc, rf_buf_t *out, const char *err) {
  if (rc) {
    fprintf(stderr, "rectifyctl %s: %s\n", cmd, err[0] ? err : rf_strerror(rc));
    rf_buf_free(out);
    return rc == RF_ENOTFOUND || rc == RF_EEXISTS ? 1 : 2;
  }
  fwrite(out->data ? out->data : "", 1, out->len, stdout);
  rf_buf_free(out);
  return 0;
}

static int cmd_list(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"table", required_argument, NULL, 't'},
                                       {"column", required_argument, NULL, 'k'},
                                       {"limit", required_argument, NULL, 'n'},
                                       {"all", no_argument, NULL, 'a'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *path = "/etc/rectify/rectify.conf";
  rf_fixes_filter_t f = {0};
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:t:k:n:ajh", opts, NULL)) != -1) {
    switch (c) {
    case 'c': path = optarg; break;
    case 't': f.table_name = optarg; break;
    case 'k': f.column_name = optarg; break;
    case 'n': f.limit = atoi(optarg); break;
    case 'a': f.include_revoked = true; break;
    case 'j': json = 1; break;
    case 'h':
      printf("usage: rectifyctl fixes list [--config FILE] [--table T] [--column C] [--limit N]\n"
             "                             [--all] [--json]\n\n"
             "Accepted fixes, most used first per column. --all includes revoked ones.\n");
      return 0;
    default: return 2;
    }
  }
  if (optind != argc || f.limit < 0) {
    fprintf(stderr, "rectifyctl fixes list: unexpected argument (see --help)\n");
    return 2;
  }
  PGconn *conn = connect_db("fixes list", path);
  if (conn == NULL)
    return 2;
  rf_buf_t out = RF_BUF_INIT;
  char err[512] = "";
  int rc = rf_fixes_list(conn, &f, json, &out, err, sizeof(err));
  PQfinish(conn);
  return finish("fixes list", rc, &out, err);
}

/* show and revoke: FIX_ID [--config FILE] [--json | --by NAME] */
static int cmd_one(int argc, char **argv, bool revoke) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"by", required_argument, NULL, 'b'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *cmd = revoke ? "fixes revoke" : "fixes show";
  const char *path = "/etc/rectify/rectify.conf", *by = NULL;
  int json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:jb:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': path = optarg; break;
    case 'j': json = 1; break;
    case 'b': by = optarg; break;
    case 'h':
      if (revoke)
        printf("usage: rectifyctl fixes revoke FIX_ID [--config FILE] [--by NAME]\n\n"
               "Revokes a fix: no instance uses it again (checked at every use). FIX_ID may be\n"
               "a unique prefix of at least 6 hex digits. --by defaults to the login name.\n");
      else
        printf("usage: rectifyctl fixes show FIX_ID [--config FILE] [--json]\n\n"
               "One fix: lambda, origin, confidence, reasoning, use and revocation.\n");
      return 0;
    default: return 2;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "rectifyctl %s: expected one FIX_ID (see --help)\n", cmd);
    return 2;
  }
  const char *id = argv[optind];
  if (revoke && by == NULL) {
    struct passwd *pw = getpwuid(getuid());
    by = pw ? pw->pw_name : "unknown";
  }
  PGconn *conn = connect_db(cmd, path);
  if (conn == NULL)
    return 2;
  rf_buf_t out = RF_BUF_INIT;
  char err[512] = "";
  int rc;
  if (revoke) {
    rc = rf_fixes_revoke(conn, id, by, err, sizeof(err));
    if (rc == 0)
      rf_buf_printf(&out, "revoked %s\n", id);
  } else {
    rc = rf_fixes_show(conn, id, json, &out, err, sizeof(err));
  }
  PQfinish(conn);
  return finish(cmd, rc, &out, err);
}

static int cmd_show(int argc, char **argv) { return cmd_one(argc, argv, false); }
static int cmd_revoke(int argc, char **argv) { return cmd_one(argc, argv, true); }

RF_CTL_COMMAND(fixes_list, "fixes list", "fixes list [--table T] [--column C] [--all] [--json]",
               "accepted fixes, most used first", cmd_list)
RF_CTL_COMMAND(fixes_show, "fixes show", "fixes show FIX_ID [--json]",
               "one fix: lambda, origin, confidence, use", cmd_show)
RF_CTL_COMMAND(fixes_revoke, "fixes revoke", "fixes revoke FIX_ID [--by NAME]",
               "never use this fix again", cmd_revoke)
