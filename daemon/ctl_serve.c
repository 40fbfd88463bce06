/* ctl_serve.c - `rectifyctl serve`: the quarantine dashboard.
 * Argument parsing and signal handling only; the work is in lib/dashboard*.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "rectify/config.h"
#include "rectify/dashboard.h"
#include "rectify/error.h"
#include "rectify/log.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: rectifyctl serve --config FILE --listen HOST:PORT --token-file FILE\n"
          "                        [--chain ID] [--log-level LEVEL]\n\n"
          "Serves the quarantine dashboard (web page and JSON API) on a loopback address.\n"
          "Every request needs a token from the token file (Bearer header, or the login\n"
          "page's session cookie); every action is appended to the audit chain\n"
          "\"dashboard:<instance_name>\" with the person's name. docs/dashboard.md.\n\n"
          "  --config FILE       rectify.conf: [postgres], [audit], the column contracts,\n"
          "                      and the source to requeue to ([redis] or [kafka])\n"
          "  --listen HOST:PORT  loopback address (127.0.0.1:8080; port 0 picks one and\n"
          "                      prints it)\n"
          "  --token-file FILE   lines \"ACTOR TOKEN\" (or a bare TOKEN: actor \"operator\");\n"
          "                      must not be readable by others\n"
          "  --chain ID          audit chain id (default dashboard:<instance_name>)\n"
          "  --log-level LEVEL   crit, err, warn, notice (default), info, debug\n");
}

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int cmd_serve(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"listen", required_argument, NULL, 'l'},
                                       {"token-file", required_argument, NULL, 't'},
                                       {"chain", required_argument, NULL, 'C'},
                                       {"log-level", required_argument, NULL, 'L'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *config = NULL, *listen = NULL, *token_file = NULL, *chain = NULL;
  int level = RF_LOG_NOTICE;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "c:l:t:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': config = optarg; break;
    case 'l': listen = optarg; break;
    case 't': token_file = optarg; break;
    case 'C': chain = optarg; break;
    case 'L':
      if ((level = rf_log_level_parse(optarg)) < 0) {
        fprintf(stderr, "rectifyctl serve: unknown log level '%s'\n", optarg);
        return 2;
      }
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "rectifyctl serve: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (config == NULL || listen == NULL || token_file == NULL) {
    fprintf(stderr, "rectifyctl serve: --config, --listen and --token-file are required\n\n");
    usage(stderr);
    return 2;
  }
  rf_log_set_level(level);
  char err[1024];
  int rc = 2;
  rf_config_t *cfg = NULL;
  rf_dashboard_t *d = NULL;
  rf_dash_server_t *srv = NULL;
  rf_dash_token_t *tokens = NULL;
  size_t ntokens = 0;
  if ((cfg = rf_config_load(config, err, sizeof(err))) == NULL) {
    fprintf(stderr, "rectifyctl serve: %s\n", err);
    goto out;
  }
  if (rf_dash_tokens_load(token_file, &tokens, &ntokens, err, sizeof(err)) != 0) {
    fprintf(stderr, "rectifyctl serve: %s\n", err);
    goto out;
  }
  rf_dashboard_opts_t o = {.cfg = cfg, .chain_id = chain};
  if (rf_dashboard_new(&o, &d, err, sizeof(err)) != 0) {
    fprintf(stderr, "rectifyctl serve: %s\n", err);
    goto out;
  }
  if (rf_dash_serve(d, listen, tokens, ntokens, &srv, err, sizeof(err)) != 0) {
    fprintf(stderr, "rectifyctl serve: %s\n", err);
    goto out;
  }
  tokens = NULL; /* the server owns them now */
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  printf("rectifyctl serve: listening on port %d (chain %s)\n", rf_dash_server_port(srv),
         rf_dashboard_chain_id(d));
  fflush(stdout);
  while (!stop)
    pause();
  rc = 0;
out:
  rf_dash_server_stop(srv);
  rf_dash_tokens_free(tokens, ntokens);
  rf_dashboard_free(d);
  rf_config_free(cfg);
  return rc;
}

RF_CTL_COMMAND(serve, "serve", "serve --config FILE --listen HOST:PORT --token-file FILE",
               "the quarantine dashboard (web page and JSON API)", cmd_serve)
