/* rectifyctl - the operator's command line. Dispatch only: every command lives
 * in its own daemon/ctl_<name>.c and does its work through librectify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/log.h"

#define RF_CTL_MAX 64

static struct {
  const char *name, *usage, *summary;
  rf_ctl_fn fn;
} commands[RF_CTL_MAX];
static int ncommands;

void rf_ctl_register(const char *name, const char *usage, const char *summary, rf_ctl_fn fn) {
  if (ncommands == RF_CTL_MAX)
    abort();
  commands[ncommands].name = name;
  commands[ncommands].usage = usage;
  commands[ncommands].summary = summary;
  commands[ncommands].fn = fn;
  ncommands++;
}

static int by_name(const void *a, const void *b) {
  const char *const *x = a, *const *y = b;
  return strcmp(*x, *y);
}

static void usage(FILE *f) {
  fprintf(f, "usage: rectifyctl COMMAND [ARGS...]\n\ncommands:\n");
  qsort(commands, (size_t)ncommands, sizeof(commands[0]), by_name);
  for (int i = 0; i < ncommands; i++)
    fprintf(f, "  %-44s %s\n", commands[i].usage, commands[i].summary);
  fprintf(f, "\nrectifyctl COMMAND --help shows a command's options.\n");
}

int main(int argc, char **argv) {
  rf_alloc_init();
  rf_log_init();
  rf_log_set_level(RF_LOG_WARN);
  if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("rectifyctl %s\n", RF_VERSION);
    return 0;
  }
  /* Longest match first, so "audit verify" wins over "audit". */
  int best = -1;
  size_t best_words = 0;
  for (int i = 0; i < ncommands; i++) {
    char name[128];
    snprintf(name, sizeof(name), "%s", commands[i].name);
    size_t words = 0;
    int ok = 1;
    for (char *save = NULL, *w = strtok_r(name, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
      if (1 + (int)words >= argc || strcmp(argv[1 + words], w) != 0) {
        ok = 0;
        break;
      }
      words++;
    }
    if (ok && words > best_words) {
      best = i;
      best_words = words;
    }
  }
  if (best < 0) {
    fprintf(stderr, "rectifyctl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
  }
  /* The command sees argv[0] = its own name words joined, then its arguments. */
  return commands[best].fn(argc - (int)best_words, argv + best_words);
}
