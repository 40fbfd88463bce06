/* rectifyctl synth --config FILE --column TABLE.COLUMN: what would the
 * offline synthesizer do with these samples? Reads samples from standard
 * input, prints the chosen lambda, its confidence and its output on each
 * sample (or why there is none) as JSON. The work is rf_synth_explain. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/config.h"
#include "rectify/error.h"
#include "rectify/synth.h"

#define RF_SYNTH_STDIN_MAX (16 * 1024 * 1024)

static void usage(FILE *f) {
  fprintf(f, "usage: rectifyctl synth --config FILE --column TABLE.COLUMN < SAMPLES\n\n"
             "Reads sample values from standard input, one per line: a JSON string, null, or\n"
             "{\"value\": ..., \"row\": {...}} when a neighbouring field matters. Prints the\n"
             "lambda the synthesizer would propose for the column's contract, its confidence\n"
             "and its output on each sample, or why it found none, as one JSON object.\n"
             "Exit 0: a fix; 1: none; 2: usage or input error.\n");
}

static int cmd_synth(int argc, char **argv) {
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"column", required_argument, NULL, 'k'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *path = NULL, *column = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:k:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': path = optarg; break;
    case 'k': column = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  const char *dot = column ? strchr(column, '.') : NULL;
  if (optind != argc || path == NULL || dot == NULL || dot == column || dot[1] == '\0') {
    usage(stderr);
    return 2;
  }
  char table[256], err[1200];
  if ((size_t)(dot - column) >= sizeof(table)) {
    fprintf(stderr, "rectifyctl synth: table name too long\n");
    return 2;
  }
  snprintf(table, sizeof(table), "%.*s", (int)(dot - column), column);
  rf_config_t *cfg = rf_config_load(path, err, sizeof(err));
  if (cfg == NULL) {
    fprintf(stderr, "rectifyctl synth: %s\n", err);
    return 2;
  }
  rf_buf_t in = RF_BUF_INIT, out = RF_BUF_INIT;
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof(chunk), stdin)) > 0 && in.len <= RF_SYNTH_STDIN_MAX)
    rf_buf_append(&in, chunk, got);
  int rc;
  if (ferror(stdin)) {
    fprintf(stderr, "rectifyctl synth: cannot read standard input\n");
    rc = 2;
  } else if (in.len > RF_SYNTH_STDIN_MAX) {
    fprintf(stderr, "rectifyctl synth: more than %d bytes on standard input\n", RF_SYNTH_STDIN_MAX);
    rc = 2;
  } else if (!rf_buf_ok(&in)) {
    fprintf(stderr, "rectifyctl synth: out of memory\n");
    rc = 2;
  } else {
    rc = rf_synth_explain(cfg, table, dot + 1, in.data ? in.data : "", in.len, &out, err,
                          sizeof(err));
    if (rc == 0 || rc == 1) {
      fwrite(out.data, 1, out.len, stdout);
    } else {
      fprintf(stderr, "rectifyctl synth: %s\n", err);
      rc = 2;
    }
  }
  rf_buf_free(&in);
  rf_buf_free(&out);
  rf_config_free(cfg);
  return rc;
}

RF_CTL_COMMAND(synth, "synth", "synth --config FILE --column TABLE.COLUMN < SAMPLES",
               "what the offline synthesizer would propose for these samples", cmd_synth)
