/* produce_kafka.h - the Kafka sink of the load generator (lib/produce_kafka.c).
 *
 * Ownership: the sink is closed and freed with sink->ops->close(sink).
 */
#ifndef RECTIFY_PRODUCE_KAFKA_H
#define RECTIFY_PRODUCE_KAFKA_H

#include "rectify/produce.h"

/* A Kafka sink: each message is produced to `topic` with the message's `id`
 * as its key (so the default partitioner spreads ids over partitions), and a
 * batch returns once every message of it is acknowledged by the broker
 * (acks=all); the sink's id of a message is "<topic>/<partition>/<offset>".
 * Returns 0, RF_ENOMEM or RF_ECONFIG/RF_EKAFKA with err filled. */
int rf_produce_kafka_sink_open(const char *brokers, const char *topic, rf_produce_sink_t **out,
                               char *err, size_t errlen);

#endif
