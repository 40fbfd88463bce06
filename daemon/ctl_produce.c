/* ctl_produce.c - `rectifyctl produce`: the load generator's command line.
 * Argument parsing, pacing and progress only; messages come from lib/produce.c
 * and go out through its sink. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/produce.h"
#include "rectify/produce_kafka.h"

#define MAX_BATCH 100000

typedef struct produce_args {
  char host[256];
  int port;
  const char *stream, *field, *truth, *families, *id_prefix;
  const char *kafka, *topic; /* the Kafka sink instead of Redis */
  uint64_t count, seed;
  double rate, malformed;
  size_t batch, oversize;
} produce_args_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: rectifyctl produce --redis HOST:PORT --stream NAME --count N [options]\n\n"
          "Adds N realistic NEEDS_AI messages to a Redis stream (XADD, field `payload`,\n"
          "pipelined in batches). The output is fully determined by the options and\n"
          "--seed. Prints a final line with counts and the rate.\n\n"
          "  --redis HOST:PORT    Redis server\n"
          "  --stream NAME        stream to XADD to\n"
          "  --count N            number of messages\n"
          "  --rate R             at most R messages per second (default: as fast as possible)\n"
          "  --malformed F        share of malformed messages, 0..1 (default 0): a rotating\n"
          "                       mix of truncated JSON, wrong types, missing fields, invalid\n"
          "                       UTF-8, empty bodies, NUL bytes, deep nesting, oversize and\n"
          "                       non-object JSON\n"
          "  --seed N             random seed (default 1)\n"
          "  --families LIST      comma list of families or table.column names, or all\n"
          "                       (default all; --list-families shows them)\n"
          "  --truth FILE         write one JSON line of ground truth per message: id,\n"
          "                       entry_id, table, column, family, value, expected, outcome\n"
          "                       (fixed, fixed_null, quarantined) and intake reason\n"
          "  --id-prefix P        message ids are P1, P2, ... (default msg-)\n"
          "  --batch N            messages per pipelined batch (default 1000)\n"
          "  --field NAME         stream entry field (default payload)\n"
          "  --oversize-bytes N   size of oversize messages (default 1052672; keep it above\n"
          "                       rectifyd's max_message_bytes, 1048576 by default, for them\n"
          "                       to be quarantined as oversize)\n"
          "  --kafka BROKERS      produce to Kafka instead (bootstrap servers, with --topic;\n"
          "                       the message id is the key; entry_id is topic/partition/offset)\n"
          "  --topic NAME         Kafka topic (with --kafka)\n"
          "  --list-families      print the families and exit\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
    fprintf(stderr, "rectifyctl produce: %s must be an integer in %" PRIu64 "..%" PRIu64
                    ", not '%s'\n",
            opt, min, max, s);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_double(const char *opt, const char *s, double min, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
    fprintf(stderr, "rectifyctl produce: %s must be a number in %g..%g, not '%s'\n", opt, min, max,
            s);
    return -1;
  }
  *out = v;
  return 0;
}

static void list_families(void) {
  printf("%-22s %-10s %s\n", "family", "table", "column");
  for (size_t i = 0; i < rf_produce_family_count(); i++) {
    const char *name, *table, *column;
    rf_produce_family_info(i, &name, &table, &column);
    printf("%-22s %-10s %s\n", name, table, column);
  }
  printf("\nmalformed kinds (rotating, share set by --malformed):\n");
  for (size_t i = 0; i < rf_produce_malformed_count(); i++)
    printf("  %s\n", rf_produce_malformed_name(i));
}

/* Returns 0, -1 for --help/--list-families (exit 0), or 2 after printing why. */
static int parse(int argc, char **argv, produce_args_t *a) {
  static const struct option opts[] = {
      {"redis", required_argument, NULL, 'r'},     {"stream", required_argument, NULL, 's'},
      {"count", required_argument, NULL, 'n'},     {"rate", required_argument, NULL, 'R'},
      {"malformed", required_argument, NULL, 'm'}, {"seed", required_argument, NULL, 'S'},
      {"families", required_argument, NULL, 'f'},  {"truth", required_argument, NULL, 't'},
      {"id-prefix", required_argument, NULL, 'p'}, {"batch", required_argument, NULL, 'b'},
      {"field", required_argument, NULL, 'F'},     {"oversize-bytes", required_argument, NULL, 'O'},
      {"list-families", no_argument, NULL, 'L'},   {"help", no_argument, NULL, 'h'},
      {"kafka", required_argument, NULL, 'k'},     {"topic", required_argument, NULL, 'T'},
      {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof(*a));
  a->seed = 1;
  a->batch = 1000;
  a->field = "payload";
  const char *redis = NULL;
  bool have_count = false;
  uint64_t v;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'r': redis = optarg; break;
    case 's': a->stream = optarg; break;
    case 'n':
      if (parse_u64("--count", optarg, 0, UINT64_MAX / 2, &a->count))
        return 2;
      have_count = true;
      break;
    case 'R':
      if (parse_double("--rate", optarg, 0.001, 1e9, &a->rate))
        return 2;
      break;
    case 'm':
      if (parse_double("--malformed", optarg, 0, 1, &a->malformed))
        return 2;
      break;
    case 'S':
      if (parse_u64("--seed", optarg, 0, UINT64_MAX, &a->seed))
        return 2;
      break;
    case 'f': a->families = optarg; break;
    case 't': a->truth = optarg; break;
    case 'p': a->id_prefix = optarg; break;
    case 'b':
      if (parse_u64("--batch", optarg, 1, MAX_BATCH, &v))
        return 2;
      a->batch = (size_t)v;
      break;
    case 'F': a->field = optarg; break;
    case 'O':
      if (parse_u64("--oversize-bytes", optarg, 1024, 512u << 20, &v))
        return 2;
      a->oversize = (size_t)v;
      break;
    case 'k': a->kafka = optarg; break;
    case 'T': a->topic = optarg; break;
    case 'L': list_families(); return -1;
    case 'h': usage(stdout); return -1;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "rectifyctl produce: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (a->kafka || a->topic) {
    if (a->kafka == NULL || a->topic == NULL || a->kafka[0] == '\0' || a->topic[0] == '\0' ||
        !have_count || redis) {
      fprintf(stderr, "rectifyctl produce: --kafka and --topic (not --redis) and --count are "
                      "required for Kafka\n");
      return 2;
    }
    return 0;
  }
  if (redis == NULL || a->stream == NULL || !have_count) {
    fprintf(stderr, "rectifyctl produce: --redis, --stream and --count are required\n");
    usage(stderr);
    return 2;
  }
  if (a->stream[0] == '\0' || a->field[0] == '\0') {
    fprintf(stderr, "rectifyctl produce: --stream and --field must not be empty\n");
    return 2;
  }
  const char *colon = strrchr(redis, ':');
  uint64_t port;
  if (colon == NULL || colon == redis || (size_t)(colon - redis) >= sizeof(a->host) ||
      parse_u64("the port in --redis", colon + 1, 1, 65535, &port)) {
    fprintf(stderr, "rectifyctl produce: --redis must be HOST:PORT, not '%s'\n", redis);
    return 2;
  }
  memcpy(a->host, redis, (size_t)(colon - redis));
  a->host[colon - redis] = '\0';
  a->port = (int)port;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
  if (s <= 0)
    return;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

static int cmd_produce(int argc, char **argv) {
  produce_args_t a;
  int rc = parse(argc, argv, &a);
  if (rc)
    return rc < 0 ? 0 : rc;

  char err[1024];
  rf_produce_t *gen = NULL;
  rf_produce_sink_t *sink = NULL;
  rf_produce_msg_t *msgs = NULL;
  rf_produce_msg_t **ptrs = NULL;
  char **ids = NULL;
  FILE *truth = NULL;
  rf_buf_t line = RF_BUF_INIT;
  size_t batch = a.batch;
  rc = 2;

  if (a.rate > 0) {
    /* About twenty sends a second, so pacing stays smooth at low rates. */
    double per_send = a.rate / 20.0;
    if (per_send < (double)batch)
      batch = per_send < 1.0 ? 1 : (size_t)per_send;
  }
  rf_produce_opts_t opts = {
      .seed = a.seed,
      .malformed = a.malformed,
      .id_prefix = a.id_prefix,
      .families = a.families,
      .oversize_bytes = a.oversize,
  };
  int err_code = rf_produce_new(&opts, &gen, err, sizeof(err));
  if (err_code) {
    fprintf(stderr, "rectifyctl produce: %s\n", err);
    goto out;
  }
  msgs = rf_calloc(batch, sizeof(*msgs));
  ptrs = rf_calloc(batch, sizeof(*ptrs));
  ids = rf_calloc(batch, sizeof(*ids));
  if (msgs == NULL || ptrs == NULL || ids == NULL) {
    fprintf(stderr, "rectifyctl produce: out of memory\n");
    goto out;
  }
  for (size_t i = 0; i < batch; i++) {
    rf_produce_msg_init(&msgs[i]);
    ptrs[i] = &msgs[i];
  }
  if (a.truth) {
    truth = fopen(a.truth, "w");
    if (truth == NULL) {
      fprintf(stderr, "rectifyctl produce: cannot write %s: %s\n", a.truth, strerror(errno));
      goto out;
    }
    setvbuf(truth, NULL, _IOFBF, 1 << 20);
  }
  if (a.kafka)
    err_code = rf_produce_kafka_sink_open(a.kafka, a.topic, &sink, err, sizeof(err));
  else
    err_code =
        rf_produce_redis_sink_open(a.host, a.port, a.stream, a.field, &sink, err, sizeof(err));
  if (err_code) {
    fprintf(stderr, "rectifyctl produce: %s\n", err);
    goto out;
  }

  bool tty = isatty(STDERR_FILENO);
  double t0 = now_s(), last_progress = t0;
  uint64_t sent = 0, malformed = 0;
  unsigned long long bytes = 0;
  while (sent < a.count) {
    size_t n = a.count - sent < batch ? (size_t)(a.count - sent) : batch;
    for (size_t i = 0; i < n; i++) {
      if (rf_produce_next(gen, &msgs[i]) != 0) {
        fprintf(stderr, "rectifyctl produce: out of memory\n");
        goto out;
      }
      malformed += msgs[i].malformed;
      bytes += msgs[i].payload.len;
    }
    err_code = sink->ops->send(sink, ptrs, n, ids, err, sizeof(err));
    if (err_code) {
      fprintf(stderr, "rectifyctl produce: %s (after %" PRIu64 " messages)\n", err, sent);
      goto out;
    }
    for (size_t i = 0; i < n; i++) {
      if (truth) {
        rf_buf_reset(&line);
        rf_produce_truth(&msgs[i], ids[i], &line);
        rf_buf_putc(&line, '\n');
        if (!rf_buf_ok(&line)) {
          fprintf(stderr, "rectifyctl produce: out of memory\n");
          goto out;
        }
        fwrite(line.data, 1, line.len, truth);
      }
      rf_free(ids[i]);
      ids[i] = NULL;
    }
    sent += n;
    if (a.rate > 0)
      sleep_s(t0 + (double)sent / a.rate - now_s());
    double now = now_s();
    if (tty && (now - last_progress >= 0.5 || sent == a.count)) {
      fprintf(stderr, "\rproduced %" PRIu64 "/%" PRIu64 " (%.0f msg/s)   ", sent, a.count,
              (double)sent / (now - t0 > 0 ? now - t0 : 1e-9));
      last_progress = now;
    }
  }
  if (tty && a.count > 0)
    fputc('\n', stderr);
  if (truth) {
    FILE *f = truth;
    truth = NULL;
    if (ferror(f) | (fclose(f) != 0)) {
      fprintf(stderr, "rectifyctl produce: writing %s failed\n", a.truth);
      goto out;
    }
  }
  double secs = now_s() - t0;
  printf("produced %" PRIu64 " messages (valid %" PRIu64 ", malformed %" PRIu64
         ", %llu bytes) to %s in %.3f s (%.0f msg/s)\n",
         sent, sent - malformed, malformed, bytes, sink->name, secs,
         secs > 0 ? (double)sent / secs : 0.0);
  rc = 0;
out:
  if (truth)
    fclose(truth);
  if (sink)
    sink->ops->close(sink);
  if (msgs)
    for (size_t i = 0; i < batch; i++)
      rf_produce_msg_free(&msgs[i]);
  if (ids)
    for (size_t i = 0; i < batch; i++)
      rf_free(ids[i]);
  rf_free(msgs);
  rf_free(ptrs);
  rf_free(ids);
  rf_buf_free(&line);
  rf_produce_free(gen);
  return rc;
}

RF_CTL_COMMAND(produce, "produce", "produce --redis HOST:PORT --stream S --count N",
               "add realistic NEEDS_AI messages to a Redis stream (load generator)", cmd_produce)
