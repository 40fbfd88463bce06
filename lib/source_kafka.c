/* source_kafka.c - a Kafka consumer group on the libuv loop.
 *
 * Why it looks like this:
 *  - librdkafka does its network I/O on its own threads and hands results to
 *    the application through queues. The consumer queue (with the main queue
 *    forwarded into it by rd_kafka_poll_set_consumer) gets an I/O event: a
 *    byte written to a non-blocking pipe whenever it turns non-empty, watched
 *    by a uv_poll. A readable pipe means "serve the queue": messages,
 *    rebalances, commit results and errors all arrive there, on the loop
 *    thread. Nothing polls on a timer while there is nothing to do.
 *  - Offsets are the only acknowledgement Kafka has, and they are a prefix:
 *    committing offset N says "everything below N is done". So every
 *    partition keeps the offsets it delivered, in order, with a done flag;
 *    an ack marks them done, and the commit point advances only over the
 *    contiguous done prefix. A message whose outcome is not in PostgreSQL is
 *    never below a committed offset. Commits are asynchronous and coalesced
 *    (one rd_kafka_commit per loop turn for every partition that advanced).
 *  - Revocation (eager or cooperative) is the dangerous moment: another
 *    instance is about to read these partitions from their committed offsets.
 *    The rebalance callback does not call (incremental_)unassign at once; it
 *    stops delivering from the revoked partitions, waits until their in-flight
 *    messages are acknowledged and committed (bounded by revoke_wait_ms),
 *    then completes the rebalance. What is still in flight after the wait is
 *    dropped uncommitted: the new owner reads it again and the writer's key
 *    ledger makes the second outcome a recognised duplicate. A lost
 *    assignment (session timed out) commits nothing.
 *  - Backpressure pauses every assigned partition (fetching stops; librdkafka
 *    purges what was prefetched and refetches it on resume) but keeps serving
 *    the queue, so rebalances and commit results still flow and the consumer
 *    does not exceed max.poll.interval.ms.
 *  - Kafka keeps no delivery counter, so `deliveries` is 1, or 2 for an
 *    offset this process delivered before (its partition came back).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rectify/alloc.h"
#include "rectify/error.h"
#include "rectify/log.h"
#include "rectify/source.h"

#define RF_KAFKA_TICK_MS 100
#define RF_KAFKA_CLOSE_COMMIT_MS 5000
#define RF_KAFKA_CLOSE_MS 10000

typedef struct kpart {
  bool assigned;
  bool revoking;
  int64_t *offs;       /* delivered offsets not yet below the commit point, ascending */
  uint8_t *done;
  size_t head, len, cap;
  int64_t next_commit; /* what may be committed: first offset not acknowledged; -1: none */
  int64_t sent;        /* highest offset in a commit request; -1: none */
  int64_t ok;          /* highest offset the broker confirmed; -1: none */
  int64_t high;        /* highest offset ever delivered by this process; -1: none */
} kpart_t;

typedef struct ack_done {
  struct ack_done *next;
  rf_source_ack_cb cb;
  void *arg;
  size_t n;
  int status;
} ack_done_t;

/* Acknowledged ids whose offsets become committable at `due` (the
 * commit-delay test hook; without it marks apply at once). */
typedef struct mark {
  struct mark *next;
  uint64_t due;
  char **ids;
  size_t n;
} mark_t;

typedef struct kafka_src {
  rf_source_t base;
  char *topic;
  rd_kafka_t *rk;
  rd_kafka_queue_t *q;
  int pipefd[2];
  uv_poll_t poll;
  uv_timer_t again; /* another queue round: the batch was full */
  uv_timer_t defer; /* ack callbacks and commits, after the current callback */
  uv_timer_t tick;  /* delayed marks, revocation deadline, close progress */
  int open_handles;
  kpart_t *parts;
  size_t nparts;
  ack_done_t *acks_head, *acks_tail;
  mark_t *marks_head, *marks_tail;
  int read_count, revoke_wait_ms, commit_delay_ms;
  /* the batch being delivered */
  rd_kafka_message_t **rkms;
  rf_msg_t *msgs;
  char *idbuf;
  size_t idlen;
  bool started, paused, polling, closing;
  /* revocation in progress */
  rd_kafka_topic_partition_list_t *revoke;
  bool revoke_lost, revoke_coop;
  uint64_t revoke_deadline;
  int commits_inflight;
  /* close */
  int close_phase; /* 0 open, 1 final commit, 2 leaving the group, 3 done */
  uint64_t close_deadline;
  rf_source_close_cb close_cb;
  void *close_arg;
} kafka_src_t;

static void serve(kafka_src_t *s);
static void revoke_progress(kafka_src_t *s);
static void close_progress(kafka_src_t *s);
static void commit_all(kafka_src_t *s);

static uint64_t now_ms(kafka_src_t *s) { return uv_now(s->base.loop); }

/* ---- partitions ---------------------------------------------------------- */

static kpart_t *part_get(kafka_src_t *s, int32_t p, bool create) {
  if (p < 0)
    return NULL;
  if ((size_t)p >= s->nparts) {
    if (!create)
      return NULL;
    size_t n = (size_t)p + 1;
    kpart_t *np = rf_realloc(s->parts, n * sizeof(*np));
    if (np == NULL)
      return NULL;
    for (size_t i = s->nparts; i < n; i++)
      np[i] = (kpart_t){.next_commit = -1, .sent = -1, .ok = -1, .high = -1};
    s->parts = np;
    s->nparts = n;
  }
  return &s->parts[p];
}

static void part_reset(kpart_t *kp) {
  kp->head = kp->len = 0;
  kp->next_commit = kp->sent = kp->ok = -1;
  kp->revoking = false;
}

static bool part_push(kpart_t *kp, int64_t off) {
  if (kp->head + kp->len == kp->cap) {
    if (kp->head > 0 && kp->head >= kp->cap / 2) {
      memmove(kp->offs, kp->offs + kp->head, kp->len * sizeof(*kp->offs));
      memmove(kp->done, kp->done + kp->head, kp->len);
      kp->head = 0;
    } else {
      size_t cap = kp->cap ? kp->cap * 2 : 256;
      int64_t *o = rf_realloc(kp->offs, cap * sizeof(*o));
      if (o == NULL)
        return false;
      kp->offs = o;
      uint8_t *d = rf_realloc(kp->done, cap);
      if (d == NULL)
        return false;
      kp->done = d;
      kp->cap = cap;
    }
  }
  kp->offs[kp->head + kp->len] = off;
  kp->done[kp->head + kp->len] = 0;
  kp->len++;
  return true;
}

/* Marks off done and advances the commit point over the done prefix.
 * Returns false when off is not an in-flight offset of this partition. */
static bool part_mark(kpart_t *kp, int64_t off) {
  size_t lo = kp->head, hi = kp->head + kp->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (kp->offs[mid] < off)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == kp->head + kp->len || kp->offs[lo] != off)
    return false;
  kp->done[lo] = 1;
  while (kp->len > 0 && kp->done[kp->head]) {
    kp->next_commit = kp->offs[kp->head] + 1;
    kp->head++;
    kp->len--;
  }
  if (kp->len == 0)
    kp->head = 0;
  return true;
}

/* "<topic>/<partition>/<offset>" -> partition and offset. */
static bool parse_id(const kafka_src_t *s, const char *id, int32_t *p, int64_t *off) {
  size_t tl = strlen(s->topic);
  if (strncmp(id, s->topic, tl) != 0 || id[tl] != '/')
    return false;
  char *end;
  errno = 0;
  long pv = strtol(id + tl + 1, &end, 10);
  if (errno || end == id + tl + 1 || *end != '/' || pv < 0 || pv > INT32_MAX)
    return false;
  const char *o = end + 1;
  long long ov = strtoll(o, &end, 10);
  if (errno || end == o || *end != '\0' || ov < 0)
    return false;
  *p = (int32_t)pv;
  *off = (int64_t)ov;
  return true;
}

/* ---- commits ------------------------------------------------------------- */

static void commit_all(kafka_src_t *s) {
  if (s->rk == NULL || s->close_phase >= 2)
    return;
  rd_kafka_topic_partition_list_t *l = NULL;
  for (size_t i = 0; i < s->nparts; i++) {
    kpart_t *kp = &s->parts[i];
    if (!kp->assigned || kp->next_commit < 0 || kp->next_commit <= kp->sent)
      continue;
    if (s->revoke && s->revoke_lost && kp->revoking)
      continue; /* lost: another member may own it already */
    if (l == NULL && (l = rd_kafka_topic_partition_list_new(8)) == NULL)
      return;
    rd_kafka_topic_partition_list_add(l, s->topic, (int32_t)i)->offset = kp->next_commit;
  }
  if (l == NULL)
    return;
  rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, 1);
  if (err) {
    rf_log(RF_LOG_WARN, "kafka", "commit not sent topic=%s error=\"%s\"; retried later",
           s->topic, rd_kafka_err2str(err));
  } else {
    for (int i = 0; i < l->cnt; i++)
      s->parts[l->elems[i].partition].sent = l->elems[i].offset;
    s->commits_inflight++;
  }
  rd_kafka_topic_partition_list_destroy(l);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
  kafka_src_t *s = opaque;
  (void)rk;
  if (s->commits_inflight > 0)
    s->commits_inflight--;
  for (int i = 0; offsets && i < offsets->cnt; i++) {
    rd_kafka_topic_partition_t *tp = &offsets->elems[i];
    kpart_t *kp = part_get(s, tp->partition, false);
    if (kp == NULL)
      continue;
    rd_kafka_resp_err_t e = tp->err ? tp->err : err;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (tp->offset > kp->ok)
        kp->ok = tp->offset;
      rf_log(RF_LOG_DEBUG, "kafka", "offset committed topic=%s partition=%" PRId32
             " offset=%" PRId64, s->topic, tp->partition, tp->offset);
    } else if (e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      rf_log(RF_LOG_WARN, "kafka", "commit failed topic=%s partition=%" PRId32 " offset=%" PRId64
             " error=\"%s\"; retried", s->topic, tp->partition, tp->offset, rd_kafka_err2str(e));
      kp->sent = kp->ok; /* the next commit sends it again */
    }
  }
  revoke_progress(s);
  close_progress(s);
}

/* ---- acks ---------------------------------------------------------------- */

static void apply_mark(kafka_src_t *s, char *const *ids, size_t n) {
  size_t stale = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t p;
    int64_t off;
    kpart_t *kp;
    if (!parse_id(s, ids[i], &p, &off) || (kp = part_get(s, p, false)) == NULL ||
        !kp->assigned || !part_mark(kp, off))
      stale++;
  }
  if (stale)
    rf_log(RF_LOG_DEBUG, "kafka", "acknowledged ids not in flight (revoked, or redelivered "
           "after their commit) topic=%s n=%zu", s->topic, stale);
}

static void mark_free(mark_t *m) {
  for (size_t i = 0; i < m->n; i++)
    rf_free(m->ids[i]);
  rf_free(m->ids);
  rf_free(m);
}

/* Applies the delayed marks that are due (all of them when closing). */
static void marks_apply(kafka_src_t *s, bool all) {
  uint64_t now = now_ms(s);
  while (s->marks_head && (all || s->marks_head->due <= now)) {
    mark_t *m = s->marks_head;
    s->marks_head = m->next;
    if (s->marks_head == NULL)
      s->marks_tail = NULL;
    apply_mark(s, m->ids, m->n);
    mark_free(m);
  }
}

static void on_defer(uv_timer_t *t) {
  kafka_src_t *s = t->data;
  while (s->acks_head) {
    ack_done_t *a = s->acks_head;
    s->acks_head = a->next;
    if (s->acks_head == NULL)
      s->acks_tail = NULL;
    a->cb(&s->base, a->n, a->status, a->arg);
    rf_free(a);
  }
  commit_all(s);
  revoke_progress(s);
  close_progress(s);
}

static int src_ack(rf_source_t *base, const char *const *ids, size_t n, rf_source_ack_cb cb,
                   void *arg) {
  kafka_src_t *s = base->impl;
  ack_done_t *a = rf_calloc(1, sizeof(*a));
  if (a == NULL)
    return RF_ENOMEM;
  if (s->commit_delay_ms > 0 && n > 0) {
    mark_t *m = rf_calloc(1, sizeof(*m));
    if (m == NULL || (m->ids = rf_calloc(n, sizeof(char *))) == NULL) {
      rf_free(m);
      rf_free(a);
      return RF_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
      if ((m->ids[i] = rf_strdup(ids[i])) == NULL) {
        mark_free(m);
        rf_free(a);
        return RF_ENOMEM;
      }
      m->n++;
    }
    m->due = now_ms(s) + (uint64_t)s->commit_delay_ms;
    if (s->marks_tail)
      s->marks_tail->next = m;
    else
      s->marks_head = m;
    s->marks_tail = m;
  } else {
    apply_mark(s, (char *const *)ids, n);
  }
  *a = (ack_done_t){.cb = cb, .arg = arg, .n = n, .status = 0};
  if (s->acks_tail)
    s->acks_tail->next = a;
  else
    s->acks_head = a;
  s->acks_tail = a;
  uv_timer_start(&s->defer, on_defer, 0, 0);
  return 0;
}

/* ---- rebalances ---------------------------------------------------------- */

static const char *plist(const rd_kafka_topic_partition_list_t *l, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < l->cnt && used + 12 < n; i++)
    used += (size_t)snprintf(buf + used, n - used, "%s%" PRId32, i ? "," : "",
                             l->elems[i].partition);
  return buf;
}

static void set_paused(kafka_src_t *s, rd_kafka_topic_partition_list_t *l, bool pause) {
  rd_kafka_resp_err_t err =
      pause ? rd_kafka_pause_partitions(s->rk, l) : rd_kafka_resume_partitions(s->rk, l);
  if (err)
    rf_log(RF_LOG_WARN, "kafka", "%s failed topic=%s error=\"%s\"", pause ? "pause" : "resume",
           s->topic, rd_kafka_err2str(err));
}

static void assign(kafka_src_t *s, rd_kafka_topic_partition_list_t *parts, bool coop) {
  char buf[256];
  for (int i = 0; i < parts->cnt; i++) {
    kpart_t *kp = part_get(s, parts->elems[i].partition, true);
    if (kp == NULL) {
      rf_log(RF_LOG_ERR, "kafka", "out of memory taking partitions; leaving the group");
      rd_kafka_assign(s->rk, NULL);
      return;
    }
    part_reset(kp);
    kp->assigned = true;
  }
  rd_kafka_error_t *error = NULL;
  rd_kafka_resp_err_t err = 0;
  if (coop)
    error = rd_kafka_incremental_assign(s->rk, parts);
  else
    err = rd_kafka_assign(s->rk, parts);
  if (error) {
    rf_log(RF_LOG_ERR, "kafka", "assign failed error=\"%s\"", rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  } else if (err) {
    rf_log(RF_LOG_ERR, "kafka", "assign failed error=\"%s\"", rd_kafka_err2str(err));
  }
  if (s->paused)
    set_paused(s, parts, true);
  rf_log(RF_LOG_INFO, "kafka", "partitions assigned topic=%s partitions=%s protocol=%s", s->topic,
         plist(parts, buf, sizeof(buf)), coop ? "cooperative" : "eager");
}

/* Completes a pending revocation once its partitions have nothing in flight
 * and their commits are answered, or at once when the assignment was lost,
 * the wait timed out or the source is closing. */
static void revoke_progress(kafka_src_t *s) {
  if (s->revoke == NULL)
    return;
  bool give_up = s->revoke_lost || s->closing || now_ms(s) >= s->revoke_deadline;
  size_t inflight = 0;
  bool committing = false;
  for (int i = 0; i < s->revoke->cnt; i++) {
    kpart_t *kp = part_get(s, s->revoke->elems[i].partition, false);
    if (kp == NULL)
      continue;
    inflight += kp->len;
    if (kp->next_commit > kp->ok)
      committing = true;
  }
  if (!give_up && inflight > 0)
    return;
  if (!s->revoke_lost && committing && !give_up) {
    commit_all(s); /* sends what advanced; on_commit calls again */
    return;
  }
  size_t uncommitted = 0;
  for (int i = 0; i < s->revoke->cnt; i++) {
    kpart_t *kp = part_get(s, s->revoke->elems[i].partition, false);
    if (kp == NULL)
      continue;
    if (kp->next_commit > kp->ok)
      uncommitted++;
    part_reset(kp);
    kp->assigned = false;
  }
  char buf[256];
  if (inflight > 0 || uncommitted > 0)
    rf_log(RF_LOG_WARN, "kafka", "partitions revoked with work unfinished topic=%s partitions=%s "
           "dropped_in_flight=%zu uncommitted_partitions=%zu reason=%s; the new owner reads them "
           "again and duplicates are recognised", s->topic, plist(s->revoke, buf, sizeof(buf)),
           inflight, uncommitted, s->revoke_lost ? "lost" : s->closing ? "closing" : "timeout");
  else
    rf_log(RF_LOG_INFO, "kafka", "partitions revoked topic=%s partitions=%s (all committed)",
           s->topic, plist(s->revoke, buf, sizeof(buf)));
  if (s->revoke_coop) {
    rd_kafka_error_t *error = rd_kafka_incremental_unassign(s->rk, s->revoke);
    if (error) {
      rf_log(RF_LOG_ERR, "kafka", "unassign failed error=\"%s\"", rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  } else {
    rd_kafka_resp_err_t err = rd_kafka_assign(s->rk, NULL);
    if (err)
      rf_log(RF_LOG_ERR, "kafka", "unassign failed error=\"%s\"", rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(s->revoke);
  s->revoke = NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  kafka_src_t *s = opaque;
  bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assign(s, parts, coop);
    return;
  }
  if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    rf_log(RF_LOG_ERR, "kafka", "rebalance error=\"%s\"; unassigning", rd_kafka_err2str(err));
    rd_kafka_assign(rk, NULL);
    return;
  }
  if (s->revoke) { /* cannot happen: the group waits for our unassign */
    rd_kafka_topic_partition_list_destroy(s->revoke);
    s->revoke = NULL;
  }
  s->revoke = rd_kafka_topic_partition_list_copy(parts);
  s->revoke_lost = rd_kafka_assignment_lost(rk) != 0;
  s->revoke_coop = coop;
  s->revoke_deadline = now_ms(s) + (uint64_t)s->revoke_wait_ms;
  for (int i = 0; i < parts->cnt; i++) {
    kpart_t *kp = part_get(s, parts->elems[i].partition, false);
    if (kp)
      kp->revoking = true;
  }
  char buf[256];
  rf_log(RF_LOG_INFO, "kafka", "partitions being revoked topic=%s partitions=%s lost=%d; "
         "finishing in-flight messages first", s->topic, plist(parts, buf, sizeof(buf)),
         s->revoke_lost);
  revoke_progress(s);
}

/* ---- the queue ----------------------------------------------------------- */

static void on_rdlog(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  int l = level <= RF_LOG_CRIT ? RF_LOG_CRIT : level > RF_LOG_DEBUG ? RF_LOG_DEBUG : level;
  rf_log(l, "kafka", "librdkafka facility=%s message=\"%s\"", fac, buf);
}

static void on_rderror(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  kafka_src_t *s = opaque;
  (void)rk;
  bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
  rf_log(fatal ? RF_LOG_ERR : RF_LOG_WARN, "kafka", "client error topic=%s error=%s reason=\"%s\"",
         s->topic, rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Whether a polled message may go to the pipeline; records it in flight. */
static bool accept_msg(kafka_src_t *s, const rd_kafka_message_t *m, uint32_t *deliveries) {
  if (s->closing)
    return false;
  kpart_t *kp = part_get(s, m->partition, false);
  if (kp == NULL || !kp->assigned || kp->revoking)
    return false; /* not ours (any more): it is read again from the committed offset */
  *deliveries = m->offset <= kp->high ? 2 : 1;
  if (m->offset > kp->high)
    kp->high = m->offset;
  bool below = kp->next_commit >= 0 && m->offset < kp->next_commit;
  bool seen = kp->len > 0 && m->offset <= kp->offs[kp->head + kp->len - 1];
  if (below || seen)
    return true; /* a re-read (seek): delivered, the pipeline or the ledger dedups */
  if (!part_push(kp, m->offset)) {
    rf_log(RF_LOG_ERR, "kafka", "out of memory tracking offsets; message not delivered, read "
           "again after the next rebalance partition=%" PRId32 " offset=%" PRId64, m->partition,
           m->offset);
    return false;
  }
  return true;
}

static void on_again(uv_timer_t *t) { serve(t->data); }

static void serve(kafka_src_t *s) {
  if (s->rk == NULL || s->close_phase >= 3 || s->polling)
    return;
  s->polling = true;
  char drain[256];
  while (read(s->pipefd[0], drain, sizeof(drain)) > 0)
    ;
  size_t n = 0, cap = (size_t)s->read_count;
  while (n < cap) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 0);
    if (m == NULL)
      break;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        rf_log(RF_LOG_WARN, "kafka", "consumer error topic=%s partition=%" PRId32 " error=\"%s\"",
               m->rkt ? rd_kafka_topic_name(m->rkt) : s->topic, m->partition,
               rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    uint32_t d = 1;
    if (!accept_msg(s, m, &d)) {
      rd_kafka_message_destroy(m);
      continue;
    }
    char *id = s->idbuf + n * s->idlen;
    snprintf(id, s->idlen, "%s/%" PRId32 "/%" PRId64, s->topic, m->partition, m->offset);
    s->msgs[n] = (rf_msg_t){.id = id, .data = m->payload, .len = m->len, .deliveries = d};
    if (m->payload == NULL) {
      s->msgs[n].problem = "kafka message has no value (a tombstone)";
      s->msgs[n].data = "";
      s->msgs[n].len = 0;
    }
    s->rkms[n++] = m;
  }
  if (n > 0)
    s->base.on_msgs(&s->base, s->msgs, n, s->base.arg);
  for (size_t i = 0; i < n; i++)
    rd_kafka_message_destroy(s->rkms[i]);
  s->polling = false;
  if (n == cap)
    uv_timer_start(&s->again, on_again, 0, 0); /* more may be queued: let the loop breathe */
  revoke_progress(s);
  close_progress(s);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  kafka_src_t *s = h->data;
  (void)events;
  if (status < 0)
    rf_log(RF_LOG_WARN, "kafka", "poll error=\"%s\"", uv_strerror(status));
  serve(s);
}

static void on_tick(uv_timer_t *t) {
  kafka_src_t *s = t->data;
  if (s->marks_head) {
    marks_apply(s, false);
    commit_all(s);
  }
  revoke_progress(s); /* its deadline */
  /* Leaving the group ends in a state (rd_kafka_consumer_closed), not
   * necessarily an event on the queue: look while closing. */
  if (s->closing)
    serve(s);
}

/* ---- lifecycle ----------------------------------------------------------- */

static int src_start(rf_source_t *base) {
  kafka_src_t *s = base->impl;
  if (s->started)
    return RF_EINVAL;
  s->started = true;
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  if (topics == NULL)
    return RF_ENOMEM;
  rd_kafka_topic_partition_list_add(topics, s->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    rf_log(RF_LOG_ERR, "kafka", "subscribe failed topic=%s error=\"%s\"", s->topic,
           rd_kafka_err2str(err));
    return RF_EKAFKA;
  }
  int rc = uv_poll_start(&s->poll, UV_READABLE, on_poll);
  if (rc) {
    rf_log(RF_LOG_ERR, "kafka", "uv_poll_start failed error=\"%s\"", uv_strerror(rc));
    return RF_EIO;
  }
  uv_timer_start(&s->tick, on_tick, RF_KAFKA_TICK_MS, RF_KAFKA_TICK_MS);
  uv_timer_start(&s->again, on_again, 0, 0); /* whatever is queued before the first event */
  rf_log(RF_LOG_INFO, "kafka", "subscribed topic=%s", s->topic);
  return 0;
}

static void pause_resume(kafka_src_t *s, bool pause) {
  if (s->rk == NULL || s->paused == pause)
    return;
  s->paused = pause;
  rd_kafka_topic_partition_list_t *l = NULL;
  if (rd_kafka_assignment(s->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
    if (l->cnt > 0)
      set_paused(s, l, pause);
    rd_kafka_topic_partition_list_destroy(l);
  }
  rf_log(RF_LOG_INFO, "kafka", "intake %s topic=%s", pause ? "paused" : "resumed", s->topic);
  if (!pause)
    uv_timer_start(&s->again, on_again, 0, 0);
}

static void src_pause(rf_source_t *base) { pause_resume(base->impl, true); }
static void src_resume(rf_source_t *base) { pause_resume(base->impl, false); }

static void free_src(kafka_src_t *s) {
  for (size_t i = 0; i < s->nparts; i++) {
    rf_free(s->parts[i].offs);
    rf_free(s->parts[i].done);
  }
  rf_free(s->parts);
  while (s->marks_head) {
    mark_t *m = s->marks_head;
    s->marks_head = m->next;
    mark_free(m);
  }
  rf_free(s->rkms);
  rf_free(s->msgs);
  rf_free(s->idbuf);
  rf_free(s->topic);
  rf_free(s->base.name);
  rf_free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  kafka_src_t *s = h->data;
  if (--s->open_handles > 0)
    return;
  rf_source_close_cb cb = s->close_cb;
  void *arg = s->close_arg;
  rf_source_t *base = &s->base;
  if (s->pipefd[0] >= 0)
    close(s->pipefd[0]);
  if (s->pipefd[1] >= 0)
    close(s->pipefd[1]);
  if (cb)
    cb(base, arg);
  free_src(s);
}

/* Close: (1) commit what is committable and wait for the answers, (2) leave
 * the group through rd_kafka_consumer_close_queue while still serving the
 * queue (the final revocation arrives there), (3) destroy and close. */
static void close_progress(kafka_src_t *s) {
  /* Never from inside rd_kafka_consumer_poll (a commit or rebalance
   * callback): serve() calls again once the poll has returned. */
  if (!s->closing || s->close_phase >= 3 || s->polling)
    return;
  uint64_t now = now_ms(s);
  if (s->close_phase == 1) {
    if (s->acks_head)
      return; /* on_defer runs first */
    commit_all(s);
    if (s->commits_inflight > 0 && now < s->close_deadline)
      return;
    if (s->commits_inflight > 0)
      rf_log(RF_LOG_WARN, "kafka", "closing with %d commits unanswered topic=%s",
             s->commits_inflight, s->topic);
    s->close_phase = 2;
    s->close_deadline = now + RF_KAFKA_CLOSE_MS;
    if (s->started) {
      rd_kafka_error_t *error = rd_kafka_consumer_close_queue(s->rk, s->q);
      if (error) {
        rf_log(RF_LOG_WARN, "kafka", "consumer close failed error=\"%s\"",
               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
      }
    }
  }
  if (s->close_phase == 2) {
    bool closed = !s->started || rd_kafka_consumer_closed(s->rk);
    if (!closed && now < s->close_deadline)
      return;
    if (!closed)
      rf_log(RF_LOG_WARN, "kafka", "leaving the group timed out topic=%s", s->topic);
    s->close_phase = 3;
    if (s->revoke) {
      rd_kafka_topic_partition_list_destroy(s->revoke);
      s->revoke = NULL;
    }
    rd_kafka_queue_io_event_enable(s->q, -1, NULL, 0);
    rd_kafka_queue_destroy(s->q);
    s->q = NULL;
    rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    s->rk = NULL;
    rf_log(RF_LOG_INFO, "kafka", "closed topic=%s", s->topic);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->again, on_handle_closed);
    uv_close((uv_handle_t *)&s->defer, on_handle_closed);
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
  }
}

static void src_close(rf_source_t *base, rf_source_close_cb cb, void *arg) {
  kafka_src_t *s = base->impl;
  if (s->closing)
    return;
  s->closing = true;
  s->close_cb = cb;
  s->close_arg = arg;
  s->close_phase = 1;
  s->close_deadline = now_ms(s) + RF_KAFKA_CLOSE_COMMIT_MS;
  marks_apply(s, true);
  if (!uv_is_active((uv_handle_t *)&s->tick))
    uv_timer_start(&s->tick, on_tick, RF_KAFKA_TICK_MS, RF_KAFKA_TICK_MS);
  revoke_progress(s);
  close_progress(s);
}

/* Per assigned partition: the broker's high watermark (as last seen by the
 * fetcher, no request) minus this consumer's position. */
static size_t src_lag(const rf_source_t *base, rf_source_lag_t *out, size_t max) {
  const kafka_src_t *s = base->impl;
  size_t n = 0;
  if (s->rk == NULL)
    return 0;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)s->nparts + 1);
  for (size_t p = 0; p < s->nparts; p++)
    if (s->parts[p].assigned)
      rd_kafka_topic_partition_list_add(l, s->topic, (int32_t)p);
  if (l->cnt > 0 && rd_kafka_position(s->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < l->cnt && n < max; i++) {
      int64_t low, high;
      const rd_kafka_topic_partition_t *tp = &l->elems[i];
      if (rd_kafka_get_watermark_offsets(s->rk, s->topic, tp->partition, &low, &high) !=
              RD_KAFKA_RESP_ERR_NO_ERROR || high < 0)
        continue;
      int64_t pos = tp->offset >= 0 ? tp->offset : low;
      snprintf(out[n].label, sizeof(out[n].label), "%s/%d", s->topic, (int)tp->partition);
      out[n].lag = high > pos ? high - pos : 0;
      n++;
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
  return n;
}

static const rf_source_ops_t kafka_ops = {
    .lag = src_lag,
    .kind = "kafka",
    .counts_deliveries = false,
    .start = src_start,
    .pause = src_pause,
    .resume = src_resume,
    .ack = src_ack,
    .close = src_close,
};

/* Properties rectify owns: setting them in [kafka] would break a guarantee
 * or duplicate a [kafka] key. */
static const char *managed_why(const char *name) {
  static const struct {
    const char *name, *why;
  } managed[] = {
      {"enable.auto.commit", "offsets are committed only after PostgreSQL commits"},
      {"enable.auto.offset.store", "offsets are committed only after PostgreSQL commits"},
      {"bootstrap.servers", "use the key 'brokers'"},
      {"metadata.broker.list", "use the key 'brokers'"},
      {"group.id", "use the key 'group'"},
  };
  for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
    if (strcmp(name, managed[i].name) == 0)
      return managed[i].why;
  return NULL;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen) {
  return rd_kafka_conf_set(conf, name, value, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

static rd_kafka_conf_t *build_conf(kafka_src_t *s, const rf_kafka_source_config_t *cfg,
                                   char *errbuf, size_t errlen) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (conf == NULL) {
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
  }
  const char *path = cfg->conf_path ? cfg->conf_path : "(config)";
  /* Defaults an operator may override, then the operator's, then ours. */
  if (conf_set(conf, "auto.offset.reset", "earliest", err, sizeof(err)) ||
      conf_set(conf, "client.id", "rectifyd", err, sizeof(err)))
    goto fail;
  for (size_t i = 0; i < cfg->n_props; i++) {
    const rf_config_prop_t *p = &cfg->props[i];
    const char *why = managed_why(p->name);
    if (why) {
      snprintf(errbuf, errlen, "%s:%d: kafka property '%s' cannot be set here: %s", path, p->line,
               p->name, why);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
    if (conf_set(conf, p->name, p->value, err, sizeof(err))) {
      snprintf(errbuf, errlen, "%s:%d: kafka property '%s': %s", path, p->line, p->name, err);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  }
  if (conf_set(conf, "bootstrap.servers", cfg->brokers, err, sizeof(err)) ||
      conf_set(conf, "group.id", cfg->group, err, sizeof(err)) ||
      conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
      conf_set(conf, "enable.auto.offset.store", "false", err, sizeof(err)))
    goto fail;
  rd_kafka_conf_set_opaque(conf, s);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
  rd_kafka_conf_set_error_cb(conf, on_rderror);
  rd_kafka_conf_set_log_cb(conf, on_rdlog);
  return conf;
fail:
  snprintf(errbuf, errlen, "kafka: %s", err);
  rd_kafka_conf_destroy(conf);
  return NULL;
}

int rf_source_kafka_new(uv_loop_t *loop, const rf_kafka_source_config_t *cfg,
                        rf_source_msgs_cb on_msgs, void *arg, rf_source_t **out, char *errbuf,
                        size_t errlen) {
  int rc = RF_ENOMEM;
  rd_kafka_conf_t *conf = NULL;
  snprintf(errbuf, errlen, "out of memory");
  if (cfg->topic == NULL || cfg->topic[0] == '\0' || cfg->brokers == NULL ||
      cfg->brokers[0] == '\0' || cfg->group == NULL || cfg->group[0] == '\0') {
    snprintf(errbuf, errlen, "kafka: brokers, topic and group must not be empty");
    return RF_ECONFIG;
  }
  kafka_src_t *s = rf_calloc(1, sizeof(*s));
  if (s == NULL)
    return RF_ENOMEM;
  s->pipefd[0] = s->pipefd[1] = -1;
  s->read_count = cfg->read_count > 0 ? cfg->read_count : 1000;
  s->revoke_wait_ms = cfg->revoke_wait_ms > 0 ? cfg->revoke_wait_ms : 10000;
  s->commit_delay_ms = cfg->commit_delay_ms > 0 ? cfg->commit_delay_ms : 0;
  s->topic = rf_strdup(cfg->topic);
  size_t nlen = strlen(cfg->topic) + sizeof("kafka:");
  s->base.name = rf_malloc(nlen);
  s->idlen = strlen(cfg->topic) + 2 + 11 + 21 + 1;
  s->rkms = rf_calloc((size_t)s->read_count, sizeof(*s->rkms));
  s->msgs = rf_calloc((size_t)s->read_count, sizeof(*s->msgs));
  s->idbuf = rf_malloc((size_t)s->read_count * s->idlen);
  if (!s->topic || !s->base.name || !s->rkms || !s->msgs || !s->idbuf)
    goto fail;
  snprintf(s->base.name, nlen, "kafka:%s", cfg->topic);
  if ((conf = build_conf(s, cfg, errbuf, errlen)) == NULL) {
    rc = RF_ECONFIG;
    goto fail;
  }
  char err[512];
  s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (s->rk == NULL) {
    snprintf(errbuf, errlen, "kafka: cannot create the consumer: %s", err);
    rc = RF_ECONFIG;
    goto fail;
  }
  conf = NULL; /* owned by rk now */
  rd_kafka_poll_set_consumer(s->rk);
  if ((s->q = rd_kafka_queue_get_consumer(s->rk)) == NULL) {
    snprintf(errbuf, errlen, "kafka: no consumer queue");
    rc = RF_EKAFKA;
    goto fail;
  }
  if (pipe2(s->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
    snprintf(errbuf, errlen, "kafka: pipe: %s", strerror(errno));
    rc = RF_EIO;
    goto fail;
  }
  rd_kafka_queue_io_event_enable(s->q, s->pipefd[1], "1", 1);
  int urc = uv_poll_init(loop, &s->poll, s->pipefd[0]);
  if (urc) {
    snprintf(errbuf, errlen, "kafka: uv_poll_init: %s", uv_strerror(urc));
    rc = RF_EIO;
    goto fail;
  }
  uv_timer_init(loop, &s->again);
  uv_timer_init(loop, &s->defer);
  uv_timer_init(loop, &s->tick);
  s->poll.data = s->again.data = s->defer.data = s->tick.data = s;
  s->open_handles = 4;
  s->base.ops = &kafka_ops;
  s->base.loop = loop;
  s->base.on_msgs = on_msgs;
  s->base.arg = arg;
  s->base.impl = s;
  errbuf[0] = '\0';
  *out = &s->base;
  return 0;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  if (s->q) {
    rd_kafka_queue_io_event_enable(s->q, -1, NULL, 0);
    rd_kafka_queue_destroy(s->q);
  }
  if (s->rk)
    rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  if (s->pipefd[0] >= 0)
    close(s->pipefd[0]);
  if (s->pipefd[1] >= 0)
    close(s->pipefd[1]);
  free_src(s);
  return rc;
}
