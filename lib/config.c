/* config.c - rectify.conf through libinih, driven by one table of keys.
 *
 * Each row of `keys` names a key, its type, default, bounds, where it lands in
 * rf_config_t and what it means. The same rows produce the reference text
 * (rf_config_write_reference, which conf/rectify.conf mirrors and a unit test
 * compares) and the validation, so documentation and behaviour cannot drift.
 *
 * libinih does the INI syntax; we feed it through ini_parse_stream with a
 * reader that counts lines, so every error can say FILE:LINE.
 */
#include "rectify/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/cluster.h"
#include "rectify/log.h"

enum key_type { T_STR, T_INT, T_BOOL, T_SIZE, T_LOGLEVEL, T_RATIO, T_CHAIN };

typedef struct key {
  const char *section;
  const char *name;
  enum key_type type;
  const char *def; /* NULL: computed at load time (see description) */
  long long min, max;
  size_t offset;
  const char *description;
} key_t_;

#define OFF(f) offsetof(rf_config_t, f)

static const key_t_ keys[] = {
    {"daemon", "instance_name", T_STR, NULL, 0, 0, OFF(instance_name),
     "Name of this instance: the audit chain id and the default Redis consumer name. Must be "
     "unique among the instances sharing a database. Default: the host name."},
    {"daemon", "log_level", T_LOGLEVEL, "info", 0, 0, OFF(log_level),
     "crit, err, warn, notice, info or debug. Row values are logged only at debug."},
    {"daemon", "state_dir", T_STR, "/var/lib/rectify", 0, 0, OFF(state_dir),
     "Directory for local state (the audit chain heads file)."},
    {"daemon", "source", T_STR, "redis", 0, 0, OFF(source),
     "Where NEEDS_AI messages come from: redis or kafka."},
    {"daemon", "http_listen", T_STR, "127.0.0.1:9187", 0, 0, OFF(http_listen),
     "Address:port of /metrics, /healthz and /readyz. Must be a loopback address. Empty: "
     "no HTTP endpoint."},
    {"daemon", "alert_webhook_url", T_STR, "", 0, 0, OFF(alert_webhook_url),
     "Sev-1 events (a reconciliation mismatch, a failed audit append) are POSTed here as "
     "JSON. Empty: logged only."},
    {"daemon", "alert_retries", T_INT, "5", 0, 100, OFF(alert_retries),
     "How often a failed alert POST is retried (exponential backoff)."},

    {"redis", "host", T_STR, "127.0.0.1", 0, 0, OFF(redis_host), "Redis server address."},
    {"redis", "port", T_INT, "6379", 1, 65535, OFF(redis_port), "Redis server port."},
    {"redis", "password_file", T_STR, "", 0, 0, OFF(redis_password_file),
     "File holding the Redis password (AUTH). Empty: $REDIS_PASSWORD if set, else no AUTH."},
    {"redis", "stream", T_STR, "needs_ai", 0, 0, OFF(redis_stream),
     "Stream the NEEDS_AI messages arrive on."},
    {"redis", "group", T_STR, "rectify", 0, 0, OFF(redis_group),
     "Consumer group; created (at the start of the stream) when missing."},
    {"redis", "consumer", T_STR, NULL, 0, 0, OFF(redis_consumer),
     "Consumer name inside the group. Default: instance_name. Keep it stable across restarts: "
     "a restarted consumer re-reads its own pending entries. When it is just the host name "
     "(the default), \"-<pid>\" is appended so that two instances on one host never share "
     "it; a restarted instance then takes over its predecessor's entries by XCLAIM."},
    {"redis", "field", T_STR, "payload", 0, 0, OFF(redis_field),
     "Stream entry field holding the JSON message."},
    {"redis", "read_count", T_INT, "1000", 1, 100000, OFF(redis_read_count),
     "Entries asked for per XREADGROUP."},
    {"redis", "block_ms", T_INT, "1000", 1, 60000, OFF(redis_block_ms),
     "XREADGROUP BLOCK timeout in milliseconds."},
    {"redis", "claim_idle_ms", T_INT, "60000", 100, 86400000, OFF(redis_claim_idle_ms),
     "Entries idle this long in another consumer's pending list (a dead instance) are "
     "taken over with XCLAIM."},
    {"redis", "claim_interval_ms", T_INT, "5000", 100, 3600000, OFF(redis_claim_interval_ms),
     "How often to look for such entries."},
    {"redis", "max_deliveries", T_INT, "5", 1, 1000, OFF(max_deliveries),
     "A message delivered more often than this without an outcome is quarantined as "
     "`poison`."},

    {"kafka", "brokers", T_STR, "127.0.0.1:9092", 0, 0, OFF(kafka_brokers),
     "bootstrap.servers of the Kafka cluster. Any other librdkafka property can be set in "
     "this section by its own name (e.g. security.protocol = SASL_SSL); "
     "enable.auto.commit is always false."},
    {"kafka", "topic", T_STR, "needs_ai", 0, 0, OFF(kafka_topic), "Topic to consume."},
    {"kafka", "group", T_STR, "rectify", 0, 0, OFF(kafka_group), "Consumer group id."},

    {"postgres", "conninfo", T_STR, "host=127.0.0.1 dbname=rectify", 0, 0, OFF(pg_conninfo),
     "libpq connection string, without the password."},
    {"postgres", "password_file", T_STR, "", 0, 0, OFF(pg_password_file),
     "File holding the PostgreSQL password. Empty: libpq's PGPASSWORD / ~/.pgpass apply. "
     "Secret files given as relative paths are looked up in $CREDENTIALS_DIRECTORY (systemd's "
     "LoadCredential=)."},

    {"pipeline", "window_ms", T_INT, "1000", 1, 3600000, OFF(window_ms),
     "A (table, column) window is flushed when its first message is this old (ms)."},
    {"pipeline", "window_max_rows", T_INT, "5000", 1, 1000000, OFF(window_max_rows),
     "... or when it holds this many messages."},
    {"pipeline", "max_inflight_rows", T_INT, "50000", 1, 10000000, OFF(max_inflight_rows),
     "Intake pauses while this many messages are received but not yet acknowledged."},
    {"pipeline", "max_message_bytes", T_SIZE, "1048576", 64, 1073741824, OFF(max_message_bytes),
     "Larger messages are quarantined whole as `oversize`."},
    {"pipeline", "max_value_bytes", T_SIZE, "65536", 16, 1073741824, OFF(max_value_bytes),
     "A `value` longer than this is quarantined as `oversize`."},
    {"pipeline", "max_json_depth", T_INT, "32", 2, 512, OFF(max_json_depth),
     "Messages nested deeper are quarantined as `malformed`."},
    {"pipeline", "strict_columns", T_BOOL, "no", 0, 0, OFF(strict_columns),
     "When yes, a message for a table.column without a [column] contract is `malformed`."},
    {"pipeline", "txn_max_rows", T_INT, "20000", 1, 1000000, OFF(txn_max_rows),
     "The writer groups pending flushes into one transaction up to this many rows."},
    {"pipeline", "cluster", T_CHAIN, RF_CLUSTER_CHAIN_DEFAULT, 0, 0, OFF(cluster_chain),
     "How a window's rows are grouped into clusters that share one fix: comma-separated "
     "stages, the first partitions, the others merge (shape, fingerprint, ngram[:N] with N in "
     "1..8; docs/clustering.md). A [column] section may set its own `cluster`. A merged "
     "cluster whose fix does not serve every part is split back and each part handled alone. "
     "A last stage embed[:T] merges clusters whose representatives' embeddings (Ollama "
     "/api/embed, [model] url) have an average cosine of at least T; without a reachable "
     "model it is skipped and counted (rectify_embed_fallbacks_total)."},
    {"pipeline", "embed_threshold", T_RATIO, "0.9", 1, 1000, OFF(embed_threshold),
     "The cosine similarity (0 < T <= 1) at which the embed stage merges two clusters, for "
     "chains that write `embed` without `:T`."},
    {"pipeline", "embed_model", T_STR, "all-minilm", 0, 0, OFF(embed_model),
     "The Ollama embedding model of the embed stage (e.g. all-minilm, nomic-embed-text); "
     "requests go to [model] url under the same egress rule, pool and breaker."},
    {"pipeline", "drain_timeout_ms", T_INT, "30000", 0, 3600000, OFF(drain_timeout_ms),
     "On SIGTERM, how long to keep retrying the database before giving up (unacknowledged "
     "messages are then redelivered later; nothing is lost)."},

    {"audit", "key_file", T_STR, "", 0, 0, OFF(audit_key_file),
     "File holding the HMAC key for chain links. Empty: plain SHA-256."},
    {"audit", "heads_file", T_STR, NULL, 0, 0, OFF(heads_file),
     "Where the writer records its chain head after every commit (tail protection). "
     "Default: <state_dir>/audit-heads."},

    {"model", "url", T_STR, "", 0, 0, OFF(model_url),
     "Base URL of the Ollama server, e.g. http://127.0.0.1:11434. Row values are sent "
     "there, so it must be a loopback address unless allow_remote = yes. Empty: no model "
     "(fixes come from the cache, transfer and the synthesizer only)."},
    {"model", "model", T_STR, "llama3.1:8b", 0, 0, OFF(model_name),
     "Model name as Ollama lists it (/api/tags); checked at start-up."},
    {"model", "concurrency", T_INT, "2", 1, 64, OFF(model_concurrency),
     "At most this many model requests in flight."},
    {"model", "queue_max", T_INT, "1000", 1, 1000000, OFF(model_queue_max),
     "Clusters waiting for a model slot beyond this many are quarantined at once as "
     "`model_unavailable`."},
    {"model", "timeout_ms", T_INT, "60000", 100, 3600000, OFF(model_timeout_ms),
     "Timeout of one model request (ms)."},
    {"model", "retries", T_INT, "3", 0, 100, OFF(model_retries),
     "Retries of a request that failed with 429, 500, 502, 503, a timeout or a connection "
     "error, with exponential backoff and jitter."},
    {"model", "backoff_ms", T_INT, "500", 1, 600000, OFF(model_backoff_ms),
     "First retry delay (ms); doubled on every retry, with +-50% jitter."},
    {"model", "breaker_failures", T_INT, "5", 1, 1000, OFF(model_breaker_failures),
     "After this many failed requests in a row the circuit breaker opens: no request is "
     "sent until breaker_cooldown_ms has passed, then one probe decides."},
    {"model", "breaker_cooldown_ms", T_INT, "10000", 10, 3600000, OFF(model_breaker_cooldown_ms),
     "How long the breaker stays open before a probe (ms)."},
    {"model", "max_wait_ms", T_INT, "600000", 100, 86400000, OFF(model_max_wait_ms),
     "A cluster that could not get an answer from the model within this time (ms) is "
     "quarantined as `model_unavailable`. Until then its rows stay unacknowledged."},
    {"model", "min_confidence", T_RATIO, "0.75", 0, 1000, OFF(model_min_confidence),
     "Candidates with a lower confidence (0..1) are refused: the whole cluster is "
     "quarantined as `low_confidence`."},
    {"model", "keep_alive", T_STR, "5m", 0, 0, OFF(model_keep_alive),
     "Ollama keep_alive: how long the model stays loaded after a request (e.g. 5m, 1h, -1)."},
    {"model", "seed", T_INT, "42", 0, 2147483647, OFF(model_seed),
     "Fixed sampling seed (with temperature 0) so the same prompt gets the same answer."},
    {"model", "allow_remote", T_BOOL, "no", 0, 0, OFF(model_allow_remote),
     "yes: the model URL may be a non-loopback address (row values leave the host)."},
    {"model", "prompt_dir", T_STR, "/etc/rectify/prompts", 0, 0, OFF(model_prompt_dir),
     "Directory of the prompt templates (system.txt, user.txt, retry.txt)."},

    {"fixes", "cache", T_BOOL, "yes", 0, 0, OFF(fixes_cache),
     "Reuse an accepted fix for a known (table, column, fingerprint) without a model call."},
    {"fixes", "transfer", T_BOOL, "yes", 0, 0, OFF(fixes_transfer),
     "For a new fingerprint, first try the column's known fixes (most used first)."},
    {"fixes", "transfer_max", T_INT, "5", 1, 100, OFF(fixes_transfer_max),
     "How many known fixes of the column transfer tries."},
    {"fixes", "synth", T_BOOL, "yes", 0, 0, OFF(fixes_synth),
     "Before the model, search the lambda language for a fix from the contract and the "
     "samples (dates, numbers, units, case, placeholders; docs/synth.md). No model needed."},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const contract_types[] = {"date",    "timestamp", "integer", "decimal",
                                             "boolean", "email",     "enum",    "string"};

typedef struct load_ctx {
  rf_config_t *cfg;
  const char *path;
  FILE *f;
  int line;           /* line number of the line being handled */
  int next_line;      /* line number of the next read */
  int section_line;   /* line of the last [section] header read */
  bool seen[NKEYS];
  int error_line;
  char error[512];
  rf_contract_t *cur; /* contract of the current [column] section */
  char cur_section[256];
} load_ctx_t;

static int fail(load_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(load_ctx_t *ctx, const char *fmt, ...) {
  if (ctx->error_line == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
    ctx->error_line = ctx->line ? ctx->line : 1;
  }
  return 0;
}

static int parse_bool(const char *v, bool *out) {
  static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(v, yes[i]) == 0)
      return *out = true, 0;
    if (strcasecmp(v, no[i]) == 0)
      return *out = false, 0;
  }
  return -1;
}

static int parse_ll(const char *v, long long *out, bool size_suffix) {
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (end == v || errno)
    return -1;
  if (size_suffix && *end) {
    long long mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024; break;
    case 'm': case 'M': mul = 1024 * 1024; break;
    case 'g': case 'G': mul = 1024LL * 1024 * 1024; break;
    default: return -1;
    }
    end++;
    if (*end == 'i' || *end == 'I')
      end++;
    if (*end == 'b' || *end == 'B')
      end++;
    if (n > LLONG_MAX / mul)
      return -1;
    n *= mul;
  }
  if (*end)
    return -1;
  *out = n;
  return 0;
}

/* Checks a clustering chain spec (`cluster` in [pipeline] and [column]).
 * Returns 1, or 0 with the error. An embed stage is accepted: without a
 * model at run time the pipeline skips it and counts the fallback. */
static int check_chain(load_ctx_t *ctx, const char *name, const char *value) {
  rf_cluster_chain_t chain;
  char err[200];
  if (rf_cluster_chain_parse(value, RF_CLUSTER_EMBED_THRESHOLD_DEFAULT, &chain, err,
                             sizeof(err)) != 0)
    return fail(ctx, "%s: %s", name, err);
  return 1;
}

static int set_key(load_ctx_t *ctx, const key_t_ *k, const char *value) {
  char *base = (char *)ctx->cfg;
  switch (k->type) {
  case T_CHAIN:
    if (check_chain(ctx, k->name, value) == 0)
      return 0;
    __attribute__((fallthrough)); /* stored as the spec text */
  case T_STR: {
    char **slot = (char **)(base + k->offset);
    char *s = rf_strdup(value);
    if (s == NULL)
      return fail(ctx, "out of memory");
    rf_free(*slot);
    *slot = s;
    return 1;
  }
  case T_BOOL: {
    bool b;
    if (parse_bool(value, &b) < 0)
      return fail(ctx, "%s: expected yes or no, got '%s'", k->name, value);
    *(bool *)(base + k->offset) = b;
    return 1;
  }
  case T_LOGLEVEL: {
    int lvl = rf_log_level_parse(value);
    if (lvl < 0)
      return fail(ctx, "%s: unknown level '%s' (crit, err, warn, notice, info, debug)", k->name,
                  value);
    *(int *)(base + k->offset) = lvl;
    return 1;
  }
  case T_RATIO: {
    char *end;
    errno = 0;
    double d = strtod(value, &end);
    /* Bounds in thousandths: min 1 means "above 0". */
    if (end == value || *end || errno || !(d * 1000 >= (double)k->min && d * 1000 <= (double)k->max))
      return fail(ctx, "%s: expected a number between %g and %g, got '%s'", k->name,
                  (double)k->min / 1000, (double)k->max / 1000, value);
    *(double *)(base + k->offset) = d;
    return 1;
  }
  case T_INT:
  case T_SIZE: {
    long long n;
    if (parse_ll(value, &n, k->type == T_SIZE) < 0)
      return fail(ctx, "%s: expected %s, got '%s'", k->name,
                  k->type == T_SIZE ? "a size (e.g. 65536, 64k, 1M)" : "an integer", value);
    if (n < k->min || n > k->max)
      return fail(ctx, "%s: %lld is out of range [%lld, %lld]", k->name, n, k->min, k->max);
    if (k->type == T_INT)
      *(int *)(base + k->offset) = (int)n;
    else
      *(size_t *)(base + k->offset) = (size_t)n;
    return 1;
  }
  }
  return fail(ctx, "internal: bad key type");
}

/* [column "table.column"] -> new contract, or 0 with an error. */
static int begin_column(load_ctx_t *ctx, const char *section) {
  const char *q1 = strchr(section, '"');
  const char *q2 = q1 ? strrchr(section, '"') : NULL;
  if (q1 == NULL || q2 == q1 || q2[1] != '\0' || strncmp(section, "column", 6) != 0)
    return fail(ctx, "bad section [%s]: expected [column \"table.column\"]", section);
  size_t n = (size_t)(q2 - q1 - 1);
  char name[256];
  if (n == 0 || n >= sizeof(name))
    return fail(ctx, "bad section [%s]: empty or too long name", section);
  memcpy(name, q1 + 1, n);
  name[n] = '\0';
  char *dot = strchr(name, '.');
  if (dot == NULL || dot == name || dot[1] == '\0' || strchr(dot + 1, '.'))
    return fail(ctx, "bad section [%s]: the name must be \"table.column\"", section);
  *dot = '\0';
  if (rf_config_contract(ctx->cfg, name, dot + 1))
    return fail(ctx, "duplicate contract for %s.%s", name, dot + 1);
  rf_config_t *cfg = ctx->cfg;
  rf_contract_t *c = rf_realloc(cfg->contracts, (cfg->n_contracts + 1) * sizeof(*c));
  if (c == NULL)
    return fail(ctx, "out of memory");
  cfg->contracts = c;
  c = &cfg->contracts[cfg->n_contracts];
  memset(c, 0, sizeof(*c));
  c->line = ctx->section_line ? ctx->section_line : ctx->line;
  c->table_name = rf_strdup(name);
  c->column_name = rf_strdup(dot + 1);
  cfg->n_contracts++;
  if (!c->table_name || !c->column_name)
    return fail(ctx, "out of memory");
  ctx->cur = c;
  return 1;
}

static int split_allowed(load_ctx_t *ctx, rf_contract_t *c, const char *value) {
  for (size_t i = 0; i < c->n_allowed; i++)
    rf_free(c->allowed[i]);
  rf_free(c->allowed);
  c->allowed = NULL;
  c->n_allowed = 0;
  const char *p = value;
  while (*p) {
    const char *comma = strchr(p, ',');
    const char *e = comma ? comma : p + strlen(p);
    const char *s = p;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    const char *t = e;
    while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
      t--;
    if (t == s)
      return fail(ctx, "allowed: empty value in list");
    char **a = rf_realloc(c->allowed, (c->n_allowed + 1) * sizeof(*a));
    if (a == NULL)
      return fail(ctx, "out of memory");
    c->allowed = a;
    if ((a[c->n_allowed] = rf_strndup(s, (size_t)(t - s))) == NULL)
      return fail(ctx, "out of memory");
    c->n_allowed++;
    p = comma ? comma + 1 : e;
  }
  return 1;
}

static int set_contract_key(load_ctx_t *ctx, const char *name, const char *value) {
  rf_contract_t *c = ctx->cur;
  char **slot = NULL;
  if (strcmp(name, "type") == 0) {
    size_t i;
    for (i = 0; i < sizeof(contract_types) / sizeof(contract_types[0]); i++)
      if (strcmp(value, contract_types[i]) == 0)
        break;
    if (i == sizeof(contract_types) / sizeof(contract_types[0]))
      return fail(ctx, "type: unknown contract type '%s' (date, timestamp, integer, decimal, "
                       "boolean, email, enum, string)", value);
    slot = &c->type;
  } else if (strcmp(name, "format") == 0) {
    slot = &c->format;
  } else if (strcmp(name, "pattern") == 0) {
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)value, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode,
                                   &erroff, NULL);
    if (re == NULL) {
      PCRE2_UCHAR msg[128];
      pcre2_get_error_message(errcode, msg, sizeof(msg));
      return fail(ctx, "pattern: %s at offset %zu", (char *)msg, (size_t)erroff);
    }
    pcre2_code_free(re);
    slot = &c->pattern;
  } else if (strcmp(name, "min") == 0) {
    slot = &c->min;
  } else if (strcmp(name, "max") == 0) {
    slot = &c->max;
  } else if (strcmp(name, "allowed") == 0) {
    return split_allowed(ctx, c, value);
  } else if (strcmp(name, "nullable") == 0) {
    if (parse_bool(value, &c->nullable) < 0)
      return fail(ctx, "nullable: expected yes or no, got '%s'", value);
    return 1;
  } else if (strcmp(name, "cluster") == 0) {
    if (check_chain(ctx, name, value) == 0)
      return 0;
    slot = &c->cluster;
  } else if (strcmp(name, "max_length") == 0) {
    long long n;
    if (parse_ll(value, &n, false) < 0 || n < 0 || n > INT_MAX)
      return fail(ctx, "max_length: expected a non-negative integer, got '%s'", value);
    c->max_length = (long)n;
    return 1;
  } else {
    return fail(ctx, "unknown key '%s' in [%s] (type, format, pattern, min, max, allowed, "
                     "nullable, max_length, cluster)", name, ctx->cur_section);
  }
  char *s = rf_strdup(value);
  if (s == NULL)
    return fail(ctx, "out of memory");
  rf_free(*slot);
  *slot = s;
  return 1;
}

static int add_kafka_prop(load_ctx_t *ctx, const char *name, const char *value) {
  rf_config_t *cfg = ctx->cfg;
  if (strcmp(name, "enable.auto.commit") == 0 || strcmp(name, "group.id") == 0 ||
      strcmp(name, "bootstrap.servers") == 0)
    return fail(ctx, "%s: set by rectify (use `group` and `brokers`; auto commit is always off)",
                name);
  for (size_t i = 0; i < cfg->n_kafka_props; i++)
    if (strcmp(cfg->kafka_props[i].name, name) == 0)
      return fail(ctx, "duplicate key '%s' in [kafka]", name);
  rf_config_prop_t *p = rf_realloc(cfg->kafka_props, (cfg->n_kafka_props + 1) * sizeof(*p));
  if (p == NULL)
    return fail(ctx, "out of memory");
  cfg->kafka_props = p;
  p = &cfg->kafka_props[cfg->n_kafka_props];
  p->name = rf_strdup(name);
  p->value = rf_strdup(value);
  p->line = ctx->line;
  cfg->n_kafka_props++;
  if (p->name == NULL || p->value == NULL)
    return fail(ctx, "out of memory");
  return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  load_ctx_t *ctx = user;
  if (ctx->error_line)
    return 0;
  (void)section; /* the reader tracked it, line by line (see begin_section) */
  if (name == NULL) /* a section line alone (INI_CALL_HANDLER_ON_NEW_SECTION builds) */
    return 1;
  if (ctx->cur)
    return set_contract_key(ctx, name, value);
  if (strcmp(section, "kafka") == 0 && strchr(name, '.') != NULL)
    return add_kafka_prop(ctx, name, value);
  bool known_section = false;
  section = ctx->cur_section;
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(keys[i].section, section) != 0)
      continue;
    known_section = true;
    if (strcmp(keys[i].name, name) != 0)
      continue;
    if (ctx->seen[i])
      return fail(ctx, "duplicate key '%s' in [%s] (continuation lines are not supported)", name,
                  section);
    ctx->seen[i] = true;
    return set_key(ctx, &keys[i], value);
  }
  if (!known_section) /* only before the first section header */
    return fail(ctx, "key '%s' outside any section", name);
  return fail(ctx, "unknown key '%s' in [%s]", name, section);
}

/* A [section] header: known sections, or [column "table.column"] which
 * starts a contract. Checked here so that an empty or misspelled section is
 * an error too, not silently ignored. */
static void begin_section(load_ctx_t *ctx, const char *line) {
  const char *start = line + strspn(line, " \t") + 1;
  const char *end = strchr(start, ']');
  if (end == NULL) /* inih reports it as a syntax error */
    return;
  snprintf(ctx->cur_section, sizeof(ctx->cur_section), "%.*s", (int)(end - start), start);
  ctx->cur = NULL;
  if (ctx->error_line)
    return;
  if (strncmp(ctx->cur_section, "column", 6) == 0) {
    begin_column(ctx, ctx->cur_section);
    return;
  }
  for (size_t i = 0; i < NKEYS; i++)
    if (strcmp(keys[i].section, ctx->cur_section) == 0)
      return;
  fail(ctx, "unknown section [%s] (daemon, redis, kafka, postgres, pipeline, audit, model, "
            "fixes, column \"table.column\")", ctx->cur_section);
}

/* fgets that counts lines, so the handler knows where it is. */
static char *reader(char *str, int num, void *stream) {
  load_ctx_t *ctx = stream;
  char *r = fgets(str, num, ctx->f);
  if (r == NULL)
    return NULL;
  ctx->line = ctx->next_line;
  const char *p = r + strspn(r, " \t");
  if (*p == '[') {
    ctx->section_line = ctx->line;
    begin_section(ctx, p);
  }
  size_t n = strlen(r);
  if (n && r[n - 1] == '\n')
    ctx->next_line++;
  return r;
}

static int apply_defaults(rf_config_t *cfg) {
  for (size_t i = 0; i < NKEYS; i++) {
    const key_t_ *k = &keys[i];
    if (k->def == NULL)
      continue;
    load_ctx_t tmp = {.cfg = cfg, .line = 0};
    if (set_key(&tmp, k, k->def) == 0)
      return -1;
  }
  return 0;
}

static int finish(load_ctx_t *ctx) {
  rf_config_t *cfg = ctx->cfg;
  if (cfg->instance_name == NULL) {
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
      snprintf(host, sizeof(host), "rectify");
    host[sizeof(host) - 1] = '\0';
    if ((cfg->instance_name = rf_strdup(host)) == NULL)
      return fail(ctx, "out of memory");
  }
  if (cfg->instance_name[0] == '\0' || strpbrk(cfg->instance_name, " \t:/"))
    return fail(ctx, "instance_name '%s' must be non-empty without spaces, ':' or '/'",
                cfg->instance_name);
  if (strcmp(cfg->source, "redis") != 0 && strcmp(cfg->source, "kafka") != 0)
    return fail(ctx, "source '%s': expected redis or kafka", cfg->source);
  if (cfg->http_listen[0]) {
    const char *colon = strrchr(cfg->http_listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || *end != '\0' || port < 1 || port > 65535)
      return fail(ctx, "http_listen '%s': expected ADDRESS:PORT", cfg->http_listen);
  }
  if (cfg->redis_consumer == NULL && (cfg->redis_consumer = rf_strdup(cfg->instance_name)) == NULL)
    return fail(ctx, "out of memory");
  if (cfg->heads_file == NULL) {
    size_t n = strlen(cfg->state_dir) + sizeof("/audit-heads");
    if ((cfg->heads_file = rf_malloc(n)) == NULL)
      return fail(ctx, "out of memory");
    snprintf(cfg->heads_file, n, "%s/audit-heads", cfg->state_dir);
  }
  for (size_t i = 0; i < cfg->n_contracts; i++) {
    rf_contract_t *c = &cfg->contracts[i];
    ctx->line = c->line;
    if (c->type == NULL)
      return fail(ctx, "[column \"%s.%s\"]: missing type", c->table_name, c->column_name);
    if (strcmp(c->type, "enum") == 0 && c->n_allowed == 0)
      return fail(ctx, "[column \"%s.%s\"]: type enum needs `allowed`", c->table_name,
                  c->column_name);
    if (c->format == NULL && (strcmp(c->type, "date") == 0 || strcmp(c->type, "timestamp") == 0)) {
      c->format = rf_strdup(strcmp(c->type, "date") == 0 ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%S");
      if (c->format == NULL)
        return fail(ctx, "out of memory");
    }
    if (strcmp(c->type, "integer") == 0 || strcmp(c->type, "decimal") == 0) {
      const char *bounds[2] = {c->min, c->max};
      for (int b = 0; b < 2; b++) {
        char *end;
        if (bounds[b] && (strtod(bounds[b], &end), *end != '\0' || end == bounds[b]))
          return fail(ctx, "[column \"%s.%s\"]: %s '%s' is not a number", c->table_name,
                      c->column_name, b ? "max" : "min", bounds[b]);
      }
    }
  }
  return 1;
}

static rf_config_t *load(const char *path, FILE *f, char *errbuf, size_t errlen) {
  rf_config_t *cfg = rf_calloc(1, sizeof(*cfg));
  load_ctx_t ctx = {.cfg = cfg, .path = path, .f = f, .next_line = 1};
  if (cfg == NULL) {
    snprintf(errbuf, errlen, "%s: out of memory", path);
    return NULL;
  }
  if ((cfg->path = rf_strdup(path)) == NULL || apply_defaults(cfg) < 0) {
    snprintf(errbuf, errlen, "%s: out of memory", path);
    goto err;
  }
  if (f) {
    int rc = ini_parse_stream(reader, &ctx, handler, &ctx);
    if (rc != 0 && ctx.error_line == 0) {
      snprintf(errbuf, errlen, "%s:%d: %s", path, rc > 0 ? rc : 0,
               rc > 0 ? "syntax error (expected [section], key = value, or a ; comment)"
                      : "cannot read file");
      goto err;
    }
  }
  if (ctx.error_line == 0)
    finish(&ctx);
  if (ctx.error_line) {
    snprintf(errbuf, errlen, "%s:%d: %s", path, ctx.error_line, ctx.error);
    goto err;
  }
  return cfg;
err:
  rf_config_free(cfg);
  return NULL;
}

rf_config_t *rf_config_load(const char *path, char *errbuf, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  rf_config_t *cfg = load(path, f, errbuf, errlen);
  fclose(f);
  return cfg;
}

rf_config_t *rf_config_defaults(char *errbuf, size_t errlen) {
  return load("(defaults)", NULL, errbuf, errlen);
}

static void contract_free(rf_contract_t *c) {
  rf_free(c->table_name);
  rf_free(c->column_name);
  rf_free(c->type);
  rf_free(c->format);
  rf_free(c->pattern);
  rf_free(c->min);
  rf_free(c->max);
  rf_free(c->cluster);
  for (size_t i = 0; i < c->n_allowed; i++)
    rf_free(c->allowed[i]);
  rf_free(c->allowed);
}

void rf_config_free(rf_config_t *cfg) {
  if (cfg == NULL)
    return;
  for (size_t i = 0; i < NKEYS; i++)
    if (keys[i].type == T_STR || keys[i].type == T_CHAIN)
      rf_free(*(char **)((char *)cfg + keys[i].offset));
  for (size_t i = 0; i < cfg->n_contracts; i++)
    contract_free(&cfg->contracts[i]);
  rf_free(cfg->contracts);
  for (size_t i = 0; i < cfg->n_kafka_props; i++) {
    rf_free(cfg->kafka_props[i].name);
    rf_free(cfg->kafka_props[i].value);
  }
  rf_free(cfg->kafka_props);
  rf_free(cfg->path);
  rf_free(cfg);
}

const rf_contract_t *rf_config_contract(const rf_config_t *cfg, const char *table_name,
                                        const char *column_name) {
  for (size_t i = 0; i < cfg->n_contracts; i++)
    if (strcmp(cfg->contracts[i].table_name, table_name) == 0 &&
        strcmp(cfg->contracts[i].column_name, column_name) == 0)
      return &cfg->contracts[i];
  return NULL;
}

char *rf_config_read_secret(const char *path, size_t *len, char *errbuf, size_t errlen) {
  char joined[4096];
  const char *creds = getenv("CREDENTIALS_DIRECTORY");
  if (path[0] != '/' && creds && creds[0]) {
    snprintf(joined, sizeof(joined), "%s/%s", creds, path);
    path = joined;
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  rf_buf_t b = RF_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 1024 * 1024)
    rf_buf_append(&b, chunk, n);
  int bad = ferror(f);
  fclose(f);
  if (bad || !rf_buf_ok(&b) || b.len >= 1024 * 1024) {
    snprintf(errbuf, errlen, "%s: cannot read (or larger than 1 MiB)", path);
    rf_buf_free(&b);
    return NULL;
  }
  while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
    b.data[--b.len] = '\0';
  if (b.len == 0) {
    snprintf(errbuf, errlen, "%s: empty secret file", path);
    rf_buf_free(&b);
    return NULL;
  }
  if (len)
    *len = b.len;
  return rf_buf_steal(&b);
}

void rf_config_write_reference(FILE *f) {
  const char *section = "";
  for (size_t i = 0; i < NKEYS; i++) {
    const key_t_ *k = &keys[i];
    if (strcmp(section, k->section) != 0) {
      fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
      section = k->section;
    }
    /* Wrap the description at 78 columns. */
    const char *d = k->description;
    while (*d) {
      size_t take = strlen(d);
      if (take > 76) {
        take = 76;
        while (take > 0 && d[take] != ' ')
          take--;
        if (take == 0)
          take = 76;
      }
      fprintf(f, "; %.*s\n", (int)take, d);
      d += take;
      while (*d == ' ')
        d++;
    }
    fprintf(f, ";%s = %s\n", k->name, k->def ? k->def : "");
  }
}
