/* produce_kafka.c - the load generator's Kafka sink.
 *
 * One librdkafka producer; a batch is produced message by message (the
 * message's `id` as key, the default partitioner), then flushed, and each
 * delivery report fills in the message's "<topic>/<partition>/<offset>".
 * Flushing per batch keeps the sink's contract (a batch is known sent or
 * failed when send returns) and keeps the mock cluster's partitions from
 * being outrun: --rate paces the batches.
 */
#include "rectify/produce_kafka.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rectify/alloc.h"
#include "rectify/error.h"

#define RF_PRODUCE_FLUSH_MS 30000

typedef struct kafka_sink {
  rd_kafka_t *rk;
  char *topic;
  /* the batch being sent */
  char **ids;
  size_t delivered;
  rd_kafka_resp_err_t err;
  int oom;
} kafka_sink_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  kafka_sink_t *k = opaque;
  (void)rk;
  size_t i = (size_t)(uintptr_t)m->_private;
  if (m->err) {
    if (!k->err)
      k->err = m->err;
    return;
  }
  char id[320];
  snprintf(id, sizeof(id), "%s/%" PRId32 "/%" PRId64, k->topic, m->partition, m->offset);
  if (k->ids && (k->ids[i] = rf_strdup(id)) == NULL)
    k->oom = 1;
  k->delivered++;
}

static int kafka_send(rf_produce_sink_t *s, rf_produce_msg_t *const *msgs, size_t n, char **ids,
                      char *err, size_t errlen) {
  kafka_sink_t *k = s->impl;
  k->ids = ids;
  k->delivered = 0;
  k->err = 0;
  k->oom = 0;
  size_t queued = 0;
  while (queued < n) {
    const rf_produce_msg_t *m = msgs[queued];
    rd_kafka_resp_err_t e = rd_kafka_producev(
        k->rk, RD_KAFKA_V_TOPIC(k->topic),
        RD_KAFKA_V_VALUE(m->payload.data ? m->payload.data : "", m->payload.len),
        RD_KAFKA_V_KEY(m->id.data ? m->id.data : "", m->id.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)queued), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(k->rk, 50); /* serves delivery reports, frees room */
      continue;
    }
    if (e) {
      rd_kafka_flush(k->rk, RF_PRODUCE_FLUSH_MS);
      snprintf(err, errlen, "kafka: produce to %s: %s", k->topic, rd_kafka_err2str(e));
      k->ids = NULL;
      return RF_EKAFKA;
    }
    queued++;
  }
  rd_kafka_resp_err_t fe = rd_kafka_flush(k->rk, RF_PRODUCE_FLUSH_MS);
  k->ids = NULL;
  if (fe || k->err || k->delivered != n) {
    snprintf(err, errlen, "kafka: %zu of %zu messages not acknowledged by %s: %s", n - k->delivered,
             n, k->topic, rd_kafka_err2str(k->err ? k->err : fe ? fe : RD_KAFKA_RESP_ERR__TIMED_OUT));
    return RF_EKAFKA;
  }
  if (k->oom) {
    snprintf(err, errlen, "out of memory");
    return RF_ENOMEM;
  }
  return 0;
}

static void kafka_close(rf_produce_sink_t *s) {
  if (s == NULL)
    return;
  kafka_sink_t *k = s->impl;
  if (k) {
    if (k->rk) {
      rd_kafka_flush(k->rk, RF_PRODUCE_FLUSH_MS);
      rd_kafka_destroy(k->rk);
    }
    rf_free(k->topic);
    rf_free(k);
  }
  rf_free(s->name);
  rf_free(s);
}

static const rf_produce_sink_ops_t kafka_sink_ops = {"kafka", kafka_send, kafka_close};

int rf_produce_kafka_sink_open(const char *brokers, const char *topic, rf_produce_sink_t **out,
                               char *err, size_t errlen) {
  int rc = RF_ENOMEM;
  *out = NULL;
  snprintf(err, errlen, "out of memory");
  rf_produce_sink_t *s = rf_calloc(1, sizeof(*s));
  if (s == NULL)
    return RF_ENOMEM;
  s->ops = &kafka_sink_ops;
  kafka_sink_t *k = s->impl = rf_calloc(1, sizeof(*k));
  if (k == NULL)
    goto fail;
  rf_buf_t name = RF_BUF_INIT;
  rf_buf_printf(&name, "kafka://%s/%s", brokers, topic);
  s->name = rf_buf_steal(&name);
  k->topic = rf_strdup(topic);
  if (s->name == NULL || k->topic == NULL)
    goto fail;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (conf == NULL)
    goto fail;
  char e[512];
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, e, sizeof(e)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "acks", "all", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "linger.ms", "5", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
      /* Room for the generator's `oversize` messages (1 MiB + 4 KiB by default). */
      rd_kafka_conf_set(conf, "message.max.bytes", "16777216", e, sizeof(e)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.idempotence", "true", e, sizeof(e)) != RD_KAFKA_CONF_OK) {
    snprintf(err, errlen, "kafka: %s", e);
    rd_kafka_conf_destroy(conf);
    rc = RF_ECONFIG;
    goto fail;
  }
  rd_kafka_conf_set_opaque(conf, k);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  if ((k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e))) == NULL) {
    snprintf(err, errlen, "kafka: cannot create a producer: %s", e);
    rd_kafka_conf_destroy(conf);
    rc = RF_EKAFKA;
    goto fail;
  }
  err[0] = '\0';
  *out = s;
  return 0;
fail:
  kafka_close(s);
  return rc;
}
