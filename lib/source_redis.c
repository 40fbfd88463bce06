/* source_redis.c - Redis Streams consumer group on the libuv loop.
 *
 * Two hiredis async connections, both driven by hiredis's own libuv adapter:
 * `rd` carries the XREADGROUP ... BLOCK calls (a blocked connection can carry
 * nothing else), `cmd` carries XACK. Reading starts with this consumer's own
 * pending entries (id 0, paging by the last id seen) and only then asks for
 * new ones (">"); it does that again after every reconnect, so an entry that
 * was delivered but whose reply was lost is never stranded. The pipeline
 * ignores redeliveries of messages it already holds.
 *
 * Acks are queued while `cmd` is down and sent after it reconnects: an
 * outcome that is committed is acknowledged as soon as Redis can hear it.
 *
 * Taking over work: every claim_interval_ms, `cmd` asks XPENDING which
 * consumers hold entries and, for each (a dead instance, one that is stuck,
 * or this one), claims its entries idle longer than claim_idle_ms with
 * XCLAIM, page by page, and only while intake is not paused, since claiming
 * counts as a delivery. Of our own pending entries, only those the pipeline
 * no longer holds are claimed (it dropped them without an outcome).
 *
 * Delivery counts: Redis counts every delivery of an entry (XREADGROUP of new
 * or pending entries, XCLAIM). Before each history read the source pipelines
 * an XPENDING over the same range on the same connection, so the reply in
 * front of the entries holds their counters; a claim takes exactly the
 * entries an XPENDING listed with theirs. The delivery that follows adds
 * one. New entries (">") are delivered for the first time. The pipeline
 * quarantines a message as `poison` once the count passes max_deliveries.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <hiredis/adapters/libuv.h>

#include "rectify/alloc.h"
#include "rectify/buf.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/source.h"

#define RF_ACK_CHUNK 1000
#define RF_BACKOFF_MIN_MS 100
#define RF_BACKOFF_MAX_MS 5000
#define RF_ID_MAX 48 /* "<ms>-<seq>": two 20-digit numbers and a dash */

/* Delivery counters from an XPENDING reply, read just before the entries. */
typedef struct counts {
  char (*ids)[RF_ID_MAX];
  uint32_t *n;
  size_t len;
  size_t pos; /* where the last lookup matched: rows and entries share their order */
} counts_t;

typedef enum read_kind { READ_NEW, READ_HISTORY, READ_CLAIM } read_kind_t;

typedef struct ack_req {
  struct ack_req *next;
  char **ids;
  size_t n;
  rf_source_ack_cb cb;
  void *arg;
  bool sent;
} ack_req_t;

typedef struct conn {
  struct redis_src *src;
  const char *role; /* "read" or "ack" */
  redisAsyncContext *ac;
  bool ready;       /* connected (and authenticated) */
  uv_timer_t retry; /* reconnect backoff */
  int backoff_ms;
} conn_t;

typedef struct redis_src {
  rf_source_t base;
  rf_redis_source_config_t cfg; /* strings owned below */
  char *host, *password, *stream, *group, *consumer, *field;
  conn_t rd, cmd;
  bool paused, closing, reading, started;
  bool history;                 /* re-reading own pending entries */
  char last_id[64];             /* paging position in the history */
  uv_timer_t again;             /* delayed re-read after an error */
  uv_timer_t claim;             /* claim period */
  bool claiming;                /* a claim round is under way */
  char **claim_from;            /* the round's consumers holding entries */
  size_t claim_n, claim_pos, claim_pos_asked;
  char claim_start[RF_ID_MAX + 1]; /* "-" or "(<id>": where the next page starts */
  counts_t hist_counts, claim_counts;
  int64_t lag;                  /* group lag from XINFO GROUPS; -1 unknown */
  uint64_t lag_asked_ms;        /* when it was last asked for */
  ack_req_t *acks_head, *acks_tail;
  size_t acks_inflight;
  int open_handles;
  rf_source_close_cb close_cb;
  void *close_arg;
} redis_src_t;

static void conn_connect(conn_t *c);
static void read_next(redis_src_t *s);
static void acks_flush(redis_src_t *s);
static void maybe_closed(redis_src_t *s);
static void claim_next(redis_src_t *s);

/* ---- delivery counters ---------------------------------------------------- */

static void counts_clear(counts_t *c) {
  rf_free(c->ids);
  rf_free(c->n);
  *c = (counts_t){0};
}

/* Keeps [id, consumer, idle, count] rows of an extended XPENDING reply. */
static void counts_set(counts_t *c, const redisReply *r) {
  counts_clear(c);
  if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
    return;
  c->ids = rf_calloc(r->elements, sizeof(*c->ids));
  c->n = rf_calloc(r->elements, sizeof(*c->n));
  if (c->ids == NULL || c->n == NULL) {
    counts_clear(c); /* counts unknown: deliveries are estimated (see count_of) */
    return;
  }
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[3]->type != REDIS_REPLY_INTEGER || e->element[0]->len >= RF_ID_MAX)
      continue;
    memcpy(c->ids[c->len], e->element[0]->str, (size_t)e->element[0]->len);
    c->ids[c->len][e->element[0]->len] = '\0';
    long long v = e->element[3]->integer;
    c->n[c->len++] = v < 0 ? 0 : v > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)v;
  }
}

/* This delivery's number: the counter before it, plus one. An entry missing
 * from the XPENDING rows (it turned idle in between, or the rows could not be
 * kept) was delivered at least once before. */
static uint32_t count_of(counts_t *c, const char *id) {
  for (size_t k = 0; k < c->len; k++) {
    size_t i = (c->pos + k) % c->len;
    if (strcmp(c->ids[i], id) == 0) {
      c->pos = i + 1;
      return c->n[i] + 1;
    }
  }
  return 2;
}

static void on_hist_counts(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (r && r->type == REDIS_REPLY_ERROR)
    rf_log(RF_LOG_WARN, "redis", "XPENDING failed error=\"%s\"; delivery counts estimated",
           r->str);
  counts_set(&s->hist_counts, r);
}

/* ---- replies ------------------------------------------------------------ */

static bool reply_is_error(const redisReply *r, const char *prefix) {
  return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

/* Delivers [[id, [f, v, ...]], ...] (entries) to the pipeline; *count is the
 * number of entries in the reply. */
static void deliver_entries(redis_src_t *s, redisReply *entries, read_kind_t kind, size_t *count) {
  *count = 0;
  if (entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
    return;
  rf_msg_t *msgs = rf_calloc(entries->elements, sizeof(*msgs));
  rf_buf_t *raws = rf_calloc(entries->elements, sizeof(*raws));
  char (*problems)[160] = rf_calloc(entries->elements, sizeof(*problems));
  if (msgs == NULL || raws == NULL || problems == NULL) {
    /* The entries are in our pending list: a re-read after the delay finds them. */
    rf_log(RF_LOG_ERR, "redis", "out of memory delivering entries; will re-read pending");
    s->history = true;
    snprintf(s->last_id, sizeof(s->last_id), "0");
    goto out;
  }
  size_t n = 0;
  for (size_t i = 0; i < entries->elements; i++) {
    redisReply *e = entries->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
      continue;
    rf_msg_t *m = &msgs[n++];
    m->id = e->element[0]->str;
    m->deliveries = kind == READ_NEW       ? 1
                    : kind == READ_HISTORY ? count_of(&s->hist_counts, m->id)
                                           : count_of(&s->claim_counts, m->id);
    if (kind == READ_HISTORY)
      snprintf(s->last_id, sizeof(s->last_id), "%s", m->id);
    redisReply *fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) {
      snprintf(problems[i], sizeof(problems[i]), "entry was deleted from the stream before it "
                                                 "was processed");
      m->problem = problems[i];
      m->data = "";
      continue;
    }
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
      redisReply *k = fields->element[f], *v = fields->element[f + 1];
      if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
          (size_t)k->len == strlen(s->field) && memcmp(k->str, s->field, k->len) == 0) {
        m->data = v->str;
        m->len = (size_t)v->len;
        break;
      }
    }
    if (m->data == NULL) {
      /* Keep what was there, field=value per line, for the person who looks. */
      for (size_t f = 0; f + 1 < fields->elements; f += 2) {
        redisReply *k = fields->element[f], *v = fields->element[f + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) {
          rf_buf_append(&raws[i], k->str, (size_t)k->len);
          rf_buf_putc(&raws[i], '=');
          rf_buf_append(&raws[i], v->str, (size_t)v->len);
          rf_buf_putc(&raws[i], '\n');
        }
      }
      snprintf(problems[i], sizeof(problems[i]), "entry has no field '%s'", s->field);
      m->problem = problems[i];
      m->data = rf_buf_ok(&raws[i]) && raws[i].data ? raws[i].data : "";
      m->len = rf_buf_ok(&raws[i]) ? raws[i].len : 0;
    }
  }
  *count = entries->elements;
  if (n)
    s->base.on_msgs(&s->base, msgs, n, s->base.arg);
out:
  if (raws)
    for (size_t i = 0; i < entries->elements; i++)
      rf_buf_free(&raws[i]);
  rf_free(raws);
  rf_free(problems);
  rf_free(msgs);
}

static void deliver(redis_src_t *s, redisReply *r, size_t *count) {
  *count = 0;
  /* [[stream, [[id, [f, v, ...]], ...]]] or nil */
  if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
    return;
  redisReply *st = r->element[0];
  if (st->type != REDIS_REPLY_ARRAY || st->elements < 2)
    return;
  deliver_entries(s, st->element[1], s->history ? READ_HISTORY : READ_NEW, count);
}

static void on_again(uv_timer_t *t) { read_next(t->data); }

/* XINFO GROUPS: keep this group's `lag` (entries not yet delivered to it). */
static void on_xinfo(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (r == NULL || r->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t g = 0; g < r->elements; g++) {
    redisReply *grp = r->element[g];
    const char *name = NULL;
    long long lag = -1;
    if (grp->type != REDIS_REPLY_ARRAY)
      continue;
    for (size_t i = 0; i + 1 < grp->elements; i += 2) {
      redisReply *k = grp->element[i], *v = grp->element[i + 1];
      if (k->type != REDIS_REPLY_STRING)
        continue;
      if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
        name = v->str;
      else if (strcmp(k->str, "lag") == 0 && v->type == REDIS_REPLY_INTEGER)
        lag = v->integer;
    }
    if (name && strcmp(name, s->group) == 0)
      s->lag = lag; /* nil lag (unknown to Redis) stays -1 */
  }
}

static void ask_lag(redis_src_t *s) {
  uint64_t now = uv_now(s->base.loop);
  if (!s->cmd.ready || s->closing || now - s->lag_asked_ms < 1000)
    return;
  s->lag_asked_ms = now;
  const char *argv[] = {"XINFO", "GROUPS", s->stream};
  redisAsyncCommandArgv(s->cmd.ac, on_xinfo, s, 3, argv, NULL);
}

static size_t src_lag(const rf_source_t *base, rf_source_lag_t *out, size_t max) {
  const redis_src_t *s = base->impl;
  if (max == 0 || s->lag < 0)
    return 0;
  snprintf(out[0].label, sizeof(out[0].label), "%s", s->stream);
  out[0].lag = s->lag;
  return 1;
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  s->reading = false;
  if (s->closing) {
    maybe_closed(s);
    return; /* what came is still pending in Redis: redelivered later */
  }
  if (r == NULL)
    return; /* disconnected: the reconnect restarts reading */
  if (reply_is_error(r, "NOGROUP")) {
    rf_log(RF_LOG_WARN, "redis", "group missing, creating it stream=%s group=%s", s->stream,
           s->group);
    const char *argv[] = {"XGROUP", "CREATE", s->stream, s->group, "0", "MKSTREAM"};
    redisAsyncCommandArgv(s->rd.ac, NULL, NULL, 6, argv, NULL);
    read_next(s);
    return;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    rf_log(RF_LOG_ERR, "redis", "XREADGROUP failed error=\"%s\"; retrying in 1s", r->str);
    uv_timer_start(&s->again, on_again, 1000, 0);
    return;
  }
  size_t count;
  deliver(s, r, &count);
  ask_lag(s);
  if (s->history && count == 0) {
    s->history = false;
    rf_log(RF_LOG_INFO, "redis", "pending entries re-read; reading new entries stream=%s",
           s->stream);
  }
  read_next(s);
}

static void read_next(redis_src_t *s) {
  if (s->reading || s->paused || s->closing || !s->rd.ready)
    return;
  char count[16], block[16];
  snprintf(count, sizeof(count), "%d", s->cfg.read_count);
  snprintf(block, sizeof(block), "%d", s->cfg.block_ms);
  const char *id = s->history ? s->last_id : ">";
  const char *argv[] = {"XREADGROUP", "GROUP", s->group, s->consumer, "COUNT", count,
                        "BLOCK", block, "STREAMS", s->stream, id};
  int argc = 11;
  if (s->history) { /* history reads never block */
    argv[6] = "STREAMS";
    argv[7] = s->stream;
    argv[8] = id;
    argc = 9;
    /* The counters of the entries this read returns, just before it. */
    char start[sizeof(s->last_id) + 1];
    snprintf(start, sizeof(start), "%s%s", strcmp(s->last_id, "0") == 0 ? "" : "(",
             strcmp(s->last_id, "0") == 0 ? "-" : s->last_id);
    const char *pargv[] = {"XPENDING", s->stream, s->group, start, "+", count, s->consumer};
    if (redisAsyncCommandArgv(s->rd.ac, on_hist_counts, s, 7, pargv, NULL) != REDIS_OK)
      counts_clear(&s->hist_counts);
  }
  if (redisAsyncCommandArgv(s->rd.ac, on_read, s, argc, argv, NULL) == REDIS_OK)
    s->reading = true;
  else
    uv_timer_start(&s->again, on_again, 1000, 0);
}

/* ---- claiming ------------------------------------------------------------ */

/* A claim round: XPENDING's summary names the consumers that hold entries;
 * for each of them, page by page (by id), XPENDING IDLE lists its entries
 * idle longer than claim_idle_ms with their delivery counters, and XCLAIM
 * takes them, again only if still that idle. Of this consumer's own entries,
 * only those the pipeline does not hold are claimed (it dropped them without
 * an outcome): claiming a held one would only raise its delivery count, and a
 * long database outage would then turn the messages waiting for it into
 * poison. */
static void claim_from_next(redis_src_t *s);

static void claim_done(redis_src_t *s) {
  s->claiming = false;
  for (size_t i = 0; i < s->claim_n; i++)
    rf_free(s->claim_from[i]);
  rf_free(s->claim_from);
  s->claim_from = NULL;
  s->claim_n = s->claim_pos = 0;
  snprintf(s->claim_start, sizeof(s->claim_start), "-");
  if (s->closing)
    maybe_closed(s);
}

/* The common head of a claim round's replies: true to go on; false, with
 * claim_done called, when the round is over: closing, disconnected, an error,
 * or (min >= 0) a reply that is not an array of at least min elements. What
 * an unanswered XCLAIM took stays in our pending list, taken back later. */
static bool claim_reply_ok(redis_src_t *s, const redisReply *r, const char *cmd, int min) {
  if (s->closing || r == NULL) {
    claim_done(s);
    return false;
  }
  if (r->type == REDIS_REPLY_ERROR ||
      (min >= 0 && (r->type != REDIS_REPLY_ARRAY || r->elements < (size_t)min))) {
    rf_log(RF_LOG_ERR, "redis", "%s failed stream=%s error=\"%s\"", cmd, s->stream,
           r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    claim_done(s);
    return false;
  }
  return true;
}

static void on_claim(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (!claim_reply_ok(s, r, "XCLAIM", -1))
    return;
  size_t count;
  deliver_entries(s, r, READ_CLAIM, &count);
  if (count)
    rf_log(RF_LOG_INFO, "redis", "claimed idle entries stream=%s from=%s n=%zu idle_ms>=%d",
           s->stream, s->claim_from[s->claim_pos_asked], count, s->cfg.claim_idle_ms);
  claim_from_next(s);
}

/* The idle entries of one consumer: claim them (counters kept for delivery). */
static void on_claim_pending(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (!claim_reply_ok(s, r, "XPENDING", 0))
    return;
  counts_set(&s->claim_counts, r);
  size_t n = s->claim_counts.len;
  /* The next page starts after this one; a short page ends this consumer. */
  if (n < (size_t)s->cfg.read_count || r->elements < (size_t)s->cfg.read_count) {
    s->claim_pos++;
    snprintf(s->claim_start, sizeof(s->claim_start), "-");
  } else {
    snprintf(s->claim_start, sizeof(s->claim_start), "(%s", s->claim_counts.ids[n - 1]);
  }
  const char **argv = rf_calloc(5 + n, sizeof(*argv));
  if (argv == NULL) {
    claim_done(s); /* the next period tries again */
    return;
  }
  char idle[16];
  snprintf(idle, sizeof(idle), "%d", s->cfg.claim_idle_ms);
  argv[0] = "XCLAIM";
  argv[1] = s->stream;
  argv[2] = s->group;
  argv[3] = s->consumer;
  argv[4] = idle;
  size_t argc = 5;
  bool own = strcmp(s->claim_from[s->claim_pos_asked], s->consumer) == 0;
  for (size_t i = 0; i < n; i++)
    if (!own || s->base.holds == NULL || !s->base.holds(s->claim_counts.ids[i], s->base.arg))
      argv[argc++] = s->claim_counts.ids[i];
  if (argc == 5)
    claim_from_next(s); /* nothing to take on this page */
  else if (redisAsyncCommandArgv(s->cmd.ac, on_claim, s, (int)argc, argv, NULL) != REDIS_OK)
    claim_done(s);
  rf_free(argv);
}

static void claim_from_next(redis_src_t *s) {
  if (s->claim_pos >= s->claim_n || s->paused || s->closing || !s->cmd.ready) {
    claim_done(s);
    return;
  }
  char idle[16], count[16];
  snprintf(idle, sizeof(idle), "%d", s->cfg.claim_idle_ms);
  snprintf(count, sizeof(count), "%d", s->cfg.read_count);
  s->claim_pos_asked = s->claim_pos;
  const char *argv[] = {"XPENDING", s->stream, s->group, "IDLE", idle, s->claim_start, "+", count,
                        s->claim_from[s->claim_pos]};
  if (redisAsyncCommandArgv(s->cmd.ac, on_claim_pending, s, 9, argv, NULL) != REDIS_OK)
    claim_done(s);
}

/* XPENDING's summary: [count, smallest id, greatest id, [[consumer, count], ...]]. */
static void on_claim_summary(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (!claim_reply_ok(s, r, "XPENDING", 4))
    return;
  const redisReply *list = r->element[3];
  if (list->type != REDIS_REPLY_ARRAY || list->elements == 0) {
    claim_done(s);
    return;
  }
  s->claim_from = rf_calloc(list->elements, sizeof(*s->claim_from));
  if (s->claim_from == NULL) {
    claim_done(s);
    return;
  }
  for (size_t i = 0; i < list->elements; i++) {
    const redisReply *e = list->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING)
      continue;
    char *name = rf_strdup(e->element[0]->str);
    if (name)
      s->claim_from[s->claim_n++] = name;
  }
  claim_from_next(s);
}

static void claim_next(redis_src_t *s) {
  if (s->claiming || s->paused || s->closing || !s->cmd.ready)
    return;
  const char *argv[] = {"XPENDING", s->stream, s->group};
  if (redisAsyncCommandArgv(s->cmd.ac, on_claim_summary, s, 3, argv, NULL) == REDIS_OK)
    s->claiming = true;
}

static void on_claim_tick(uv_timer_t *t) {
  claim_next(t->data);
}

/* ---- connections --------------------------------------------------------- */

static void on_retry(uv_timer_t *t) { conn_connect(t->data); }

static void schedule_reconnect(conn_t *c) {
  redis_src_t *s = c->src;
  if (s->closing)
    return;
  c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RF_BACKOFF_MIN_MS;
  if (c->backoff_ms > RF_BACKOFF_MAX_MS)
    c->backoff_ms = RF_BACKOFF_MAX_MS;
  uv_timer_start(&c->retry, on_retry, (uint64_t)c->backoff_ms, 0);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv) {
  conn_t *c = priv;
  redisReply *r = reply;
  (void)ac;
  if (r && r->type == REDIS_REPLY_ERROR)
    rf_log(RF_LOG_ERR, "redis", "AUTH failed conn=%s error=\"%s\"", c->role, r->str);
}

static void on_group(redisAsyncContext *ac, void *reply, void *priv) {
  redis_src_t *s = priv;
  redisReply *r = reply;
  (void)ac;
  if (r && r->type == REDIS_REPLY_ERROR && !reply_is_error(r, "BUSYGROUP"))
    rf_log(RF_LOG_ERR, "redis", "XGROUP CREATE failed stream=%s group=%s error=\"%s\"", s->stream,
           s->group, r->str);
  else if (r && r->type != REDIS_REPLY_ERROR)
    rf_log(RF_LOG_INFO, "redis", "consumer group created stream=%s group=%s", s->stream, s->group);
}

static void on_connect(const redisAsyncContext *ac, int status) {
  conn_t *c = ac->data;
  redis_src_t *s = c->src;
  if (status != REDIS_OK) {
    rf_log(RF_LOG_WARN, "redis", "connect failed conn=%s addr=%s:%d error=\"%s\"", c->role,
           s->host, s->cfg.port, ac->errstr);
    c->ac = NULL; /* hiredis frees the context after this callback */
    if (s->closing)
      maybe_closed(s);
    else
      schedule_reconnect(c);
    return;
  }
  c->ready = true;
  c->backoff_ms = 0;
  rf_log(RF_LOG_INFO, "redis", "connected conn=%s addr=%s:%d", c->role, s->host, s->cfg.port);
  if (c == &s->rd) {
    const char *argv[] = {"XGROUP", "CREATE", s->stream, s->group, "0", "MKSTREAM"};
    redisAsyncCommandArgv(c->ac, on_group, s, 6, argv, NULL);
    s->history = true;
    snprintf(s->last_id, sizeof(s->last_id), "0");
    read_next(s);
  } else {
    acks_flush(s);
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  conn_t *c = ac->data;
  redis_src_t *s = c->src;
  c->ac = NULL;
  c->ready = false;
  if (c == &s->rd)
    s->reading = false;
  if (s->closing) {
    maybe_closed(s);
    return;
  }
  rf_log(RF_LOG_WARN, "redis", "disconnected conn=%s status=%d; reconnecting", c->role, status);
  if (c == &s->cmd) /* unanswered acks go again after the reconnect */
    for (ack_req_t *q = s->acks_head; q; q = q->next)
      q->sent = false;
  s->acks_inflight = 0;
  schedule_reconnect(c);
}

static void conn_connect(conn_t *c) {
  redis_src_t *s = c->src;
  if (s->closing || c->ac)
    return;
  redisAsyncContext *ac = redisAsyncConnect(s->host, s->cfg.port);
  if (ac == NULL || ac->err) {
    rf_log(RF_LOG_WARN, "redis", "connect failed conn=%s error=\"%s\"", c->role,
           ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    schedule_reconnect(c);
    return;
  }
  ac->data = c;
  if (redisLibuvAttach(ac, s->base.loop) != REDIS_OK) {
    redisAsyncFree(ac);
    schedule_reconnect(c);
    return;
  }
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  /* Keep the reply buffer between reads: by default hiredis frees it once
   * idle above 16 KiB, and a 1000-entry reply is far larger, so every read
   * would allocate and free a large buffer (and make malloc consolidate). */
  ac->c.reader->maxbuf = 0;
  c->ac = ac;
  if (s->password) {
    const char *argv[] = {"AUTH", s->password};
    redisAsyncCommandArgv(ac, on_auth, c, 2, argv, NULL);
  }
}

/* ---- acks ---------------------------------------------------------------- */

static void ack_req_free(ack_req_t *q) {
  for (size_t i = 0; i < q->n; i++)
    rf_free(q->ids[i]);
  rf_free(q->ids);
  rf_free(q);
}

static void on_xack(redisAsyncContext *ac, void *reply, void *priv) {
  ack_req_t *q = priv;
  redis_src_t *s = ((conn_t *)ac->data)->src;
  redisReply *r = reply;
  if (r == NULL)
    return; /* disconnected: on_disconnect marked it unsent; it goes again */
  s->acks_inflight--;
  /* Unlink q (acks complete in order on one connection, but be general). */
  ack_req_t **pp = &s->acks_head, *prev = NULL;
  while (*pp && *pp != q) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (*pp) {
    *pp = q->next;
    if (s->acks_tail == q)
      s->acks_tail = prev;
  }
  int status = 0;
  if (r->type == REDIS_REPLY_ERROR) {
    rf_log(RF_LOG_ERR, "redis", "XACK failed ids=%zu error=\"%s\"", q->n, r->str);
    status = RF_EREDIS;
  }
  q->cb(&s->base, q->n, status, q->arg);
  ack_req_free(q);
  if (s->closing)
    maybe_closed(s);
}

static void acks_flush(redis_src_t *s) {
  if (!s->cmd.ready)
    return;
  for (ack_req_t *q = s->acks_head; q; q = q->next) {
    if (q->sent)
      continue;
    const char **argv = rf_malloc((q->n + 3) * sizeof(*argv));
    if (argv == NULL)
      return; /* stays queued; retried at the next flush */
    argv[0] = "XACK";
    argv[1] = s->stream;
    argv[2] = s->group;
    for (size_t i = 0; i < q->n; i++)
      argv[3 + i] = q->ids[i];
    if (redisAsyncCommandArgv(s->cmd.ac, on_xack, q, (int)(q->n + 3), argv, NULL) == REDIS_OK) {
      q->sent = true;
      s->acks_inflight++;
    }
    rf_free(argv);
  }
}

static int src_ack(rf_source_t *base, const char *const *ids, size_t n, rf_source_ack_cb cb,
                   void *arg) {
  redis_src_t *s = base->impl;
  if (n == 0) {
    cb(base, 0, 0, arg);
    return 0;
  }
  ack_req_t *q = rf_calloc(1, sizeof(*q));
  if (q == NULL || (q->ids = rf_calloc(n, sizeof(char *))) == NULL)
    goto nomem;
  for (size_t i = 0; i < n; i++) {
    if ((q->ids[i] = rf_strdup(ids[i])) == NULL)
      goto nomem;
    q->n++;
  }
  q->cb = cb;
  q->arg = arg;
  if (s->acks_tail)
    s->acks_tail->next = q;
  else
    s->acks_head = q;
  s->acks_tail = q;
  acks_flush(s);
  return 0;
nomem:
  if (q)
    ack_req_free(q);
  return RF_ENOMEM;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int src_start(rf_source_t *base) {
  redis_src_t *s = base->impl;
  if (s->started)
    return RF_EINVAL;
  s->started = true;
  conn_connect(&s->rd);
  conn_connect(&s->cmd);
  if (s->cfg.claim_idle_ms > 0 && s->cfg.claim_interval_ms > 0)
    uv_timer_start(&s->claim, on_claim_tick, (uint64_t)s->cfg.claim_interval_ms,
                   (uint64_t)s->cfg.claim_interval_ms);
  return 0;
}

static void src_pause(rf_source_t *base) {
  redis_src_t *s = base->impl;
  if (!s->paused)
    rf_log(RF_LOG_INFO, "redis", "intake paused stream=%s", s->stream);
  s->paused = true;
}

static void src_resume(rf_source_t *base) {
  redis_src_t *s = base->impl;
  if (s->paused)
    rf_log(RF_LOG_INFO, "redis", "intake resumed stream=%s", s->stream);
  s->paused = false;
  read_next(s);
  claim_next(s); /* a scan cut short by the pause goes on */
}

static void on_handle_closed(uv_handle_t *h) {
  redis_src_t *s = h->data;
  if (--s->open_handles > 0)
    return;
  rf_source_close_cb cb = s->close_cb;
  void *arg = s->close_arg;
  rf_source_t *base = &s->base;
  rf_free(s->host);
  rf_free(s->password);
  rf_free(s->stream);
  rf_free(s->group);
  rf_free(s->consumer);
  rf_free(s->field);
  rf_free(s->base.name);
  counts_clear(&s->hist_counts);
  counts_clear(&s->claim_counts);
  for (size_t i = 0; i < s->claim_n; i++)
    rf_free(s->claim_from[i]);
  rf_free(s->claim_from);
  if (cb)
    cb(base, arg);
  rf_free(s);
}

static void maybe_closed(redis_src_t *s) {
  if (!s->closing)
    return;
  /* Acks that can still be sent are waited for; unsent ones fail now if the
   * ack connection is gone (the entries stay pending and come back). */
  if (s->acks_head && s->cmd.ready)
    return;
  while (s->acks_head) {
    ack_req_t *q = s->acks_head;
    s->acks_head = q->next;
    q->cb(&s->base, q->n, RF_ECANCELED, q->arg);
    ack_req_free(q);
  }
  s->acks_tail = NULL;
  if (s->rd.ac) {
    if (!(s->rd.ac->c.flags & REDIS_DISCONNECTING))
      redisAsyncDisconnect(s->rd.ac);
    return;
  }
  if (s->cmd.ac) {
    if (!(s->cmd.ac->c.flags & REDIS_DISCONNECTING))
      redisAsyncDisconnect(s->cmd.ac);
    return;
  }
  if (s->open_handles == 4 && !uv_is_closing((uv_handle_t *)&s->again)) {
    s->rd.retry.data = s; /* on_handle_closed wants the source */
    s->cmd.retry.data = s;
    uv_close((uv_handle_t *)&s->again, on_handle_closed);
    uv_close((uv_handle_t *)&s->claim, on_handle_closed);
    uv_close((uv_handle_t *)&s->rd.retry, on_handle_closed);
    uv_close((uv_handle_t *)&s->cmd.retry, on_handle_closed);
  }
}

static void src_close(rf_source_t *base, rf_source_close_cb cb, void *arg) {
  redis_src_t *s = base->impl;
  s->closing = true;
  s->close_cb = cb;
  s->close_arg = arg;
  uv_timer_stop(&s->again);
  uv_timer_stop(&s->claim);
  uv_timer_stop(&s->rd.retry);
  uv_timer_stop(&s->cmd.retry);
  maybe_closed(s);
}

static int src_ready(const rf_source_t *base) {
  const redis_src_t *s = base->impl;
  return s->rd.ready && s->cmd.ready;
}

static const rf_source_ops_t redis_ops = {
    .ready = src_ready,
    .lag = src_lag,
    .kind = "redis",
    .counts_deliveries = true,
    .start = src_start,
    .pause = src_pause,
    .resume = src_resume,
    .ack = src_ack,
    .close = src_close,
};

int rf_source_redis_new(uv_loop_t *loop, const rf_redis_source_config_t *cfg,
                        rf_source_msgs_cb on_msgs, void *arg, rf_source_t **out) {
  redis_src_t *s = rf_calloc(1, sizeof(*s));
  if (s == NULL)
    return RF_ENOMEM;
  s->cfg = *cfg;
  s->host = rf_strdup(cfg->host);
  s->password = cfg->password ? rf_strdup(cfg->password) : NULL;
  s->stream = rf_strdup(cfg->stream);
  s->group = rf_strdup(cfg->group);
  s->consumer = rf_strdup(cfg->consumer);
  s->field = rf_strdup(cfg->field);
  size_t nlen = strlen(cfg->stream) + sizeof("redis:");
  s->base.name = rf_malloc(nlen);
  if (!s->host || (cfg->password && !s->password) || !s->stream || !s->group || !s->consumer ||
      !s->field || !s->base.name) {
    rf_free(s->host);
    rf_free(s->password);
    rf_free(s->stream);
    rf_free(s->group);
    rf_free(s->consumer);
    rf_free(s->field);
    rf_free(s->base.name);
    rf_free(s);
    return RF_ENOMEM;
  }
  snprintf(s->base.name, nlen, "redis:%s", cfg->stream);
  s->base.ops = &redis_ops;
  s->base.loop = loop;
  s->base.on_msgs = on_msgs;
  s->base.arg = arg;
  s->base.impl = s;
  s->lag = -1;
  s->rd = (conn_t){.src = s, .role = "read"};
  s->cmd = (conn_t){.src = s, .role = "ack"};
  uv_timer_init(loop, &s->again);
  uv_timer_init(loop, &s->rd.retry);
  uv_timer_init(loop, &s->cmd.retry);
  uv_timer_init(loop, &s->claim);
  s->claim.data = s;
  snprintf(s->claim_start, sizeof(s->claim_start), "-");
  s->again.data = s;
  s->rd.retry.data = &s->rd;
  s->cmd.retry.data = &s->cmd;
  s->open_handles = 4;
  *out = &s->base;
  return 0;
}
