/* rectifyctl check-config FILE: validate a configuration and its contracts. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rectify/config.h"

static int cmd_check_config(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fprintf(argc == 2 ? stdout : stderr,
            "usage: rectifyctl check-config FILE\n\n"
            "Loads FILE as rectifyd would: every key, value and [column] contract.\n"
            "Exit 0 when valid; 1 with FILE:LINE: what is wrong.\n");
    return argc == 2 ? 0 : 2;
  }
  char err[1024];
  rf_config_t *cfg = rf_config_load(argv[1], err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("%s: ok (source %s, instance %s, %zu column contracts)\n", argv[1], cfg->source,
         cfg->instance_name, cfg->n_contracts);
  rf_config_free(cfg);
  return 0;
}

RF_CTL_COMMAND(check_config, "check-config", "check-config FILE",
               "validate a configuration and its column contracts", cmd_check_config)
