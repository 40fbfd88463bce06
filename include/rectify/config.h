/* config.h - rectify.conf: one INI file, table-driven.
 *
 * Every key is a row of one table (lib/config.c) with its type, default,
 * bounds and description; conf/rectify.conf documents the same rows, and a
 * unit test checks that the two agree. Unknown sections or keys and bad values
 * are errors that name file and line. Column contracts live in the same file
 * as [column "table.column"] sections.
 *
 * Secrets never live in this file: *_password_file / audit_key_file name files,
 * and the environment (PGPASSWORD, REDIS_PASSWORD) works too.
 *
 * Ownership: rf_config_load() returns a config the caller frees with
 * rf_config_free(); every string inside belongs to it.
 */
#ifndef RECTIFY_CONFIG_H
#define RECTIFY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct rf_contract {
  char *table_name;
  char *column_name;
  char *type;        /* date timestamp integer decimal boolean email enum string */
  char *format;      /* strftime format for date/timestamp, or NULL */
  char *pattern;     /* PCRE2 (Python syntax) the whole value must match, or NULL */
  char *min, *max;   /* bounds as text (numbers, or dates in `format`), or NULL */
  char **allowed;    /* allowed values (enum), n_allowed of them */
  size_t n_allowed;
  bool nullable;
  long max_length;   /* in characters; 0 = none */
  char *cluster;     /* clustering chain spec (validated), or NULL: [pipeline] cluster */
  int line;          /* where the section starts */
} rf_contract_t;

/* A librdkafka property passed through from [kafka] (any key with a dot). */
typedef struct rf_config_prop {
  char *name;
  char *value;
  int line;
} rf_config_prop_t;

typedef struct rf_config {
  char *path;
  /* [daemon] */
  char *instance_name;     /* default: the host name */
  int log_level;
  char *state_dir;
  char *source;            /* "redis" or "kafka" */
  char *http_listen;       /* "127.0.0.1:9187"; empty: no HTTP endpoint */
  char *alert_webhook_url; /* Sev-1 alerts are POSTed here; empty: none */
  int alert_retries;
  /* [redis] */
  char *redis_host;
  int redis_port;
  char *redis_password_file;
  char *redis_stream;
  char *redis_group;
  char *redis_consumer;    /* default: instance_name */
  char *redis_field;       /* the entry field holding the JSON message */
  int redis_read_count;
  int redis_block_ms;
  int redis_claim_idle_ms;     /* XCLAIM entries idle this long in other consumers */
  int redis_claim_interval_ms; /* how often to look for them */
  int max_deliveries;          /* after this many deliveries a message is `poison` */
  /* [kafka] */
  char *kafka_brokers;
  char *kafka_topic;
  char *kafka_group;
  rf_config_prop_t *kafka_props;
  size_t n_kafka_props;
  /* [postgres] */
  char *pg_conninfo;
  char *pg_password_file;
  /* [pipeline] */
  int window_ms;
  int window_max_rows;
  int max_inflight_rows;
  size_t max_message_bytes;
  size_t max_value_bytes;
  int max_json_depth;
  bool strict_columns;
  int txn_max_rows;
  int drain_timeout_ms;
  char *cluster_chain;     /* clustering chain spec, validated (docs/clustering.md) */
  double embed_threshold;  /* the embed stage's default cosine threshold */
  char *embed_model;       /* the Ollama embedding model */
  /* [audit] */
  char *audit_key_file;
  char *heads_file;        /* default: <state_dir>/audit-heads */
  /* [column "t.c"] */
  rf_contract_t *contracts;
  size_t n_contracts;
  /* [model] (docs/model.md); model_url "" = no model generator */
  char *model_url;
  char *model_name;
  int model_concurrency;
  int model_queue_max;
  int model_timeout_ms;
  int model_retries;
  int model_backoff_ms;
  int model_breaker_failures;
  int model_breaker_cooldown_ms;
  int model_max_wait_ms;
  double model_min_confidence;
  char *model_keep_alive;
  int model_seed;
  bool model_allow_remote;
  char *model_prompt_dir;
  /* [fixes] */
  bool fixes_cache;
  bool fixes_transfer;
  int fixes_transfer_max;
  bool fixes_synth;
} rf_config_t;

/* Loads and validates path. On error returns NULL and writes
 * "FILE:LINE: message" into errbuf. */
rf_config_t *rf_config_load(const char *path, char *errbuf, size_t errlen);
/* The built-in defaults, as if from an empty file. */
rf_config_t *rf_config_defaults(char *errbuf, size_t errlen);
void rf_config_free(rf_config_t *cfg);
/* The contract for table.column, or NULL. */
const rf_contract_t *rf_config_contract(const rf_config_t *cfg, const char *table_name,
                                        const char *column_name);
/* Reads a whole secret file (trailing newline stripped). A relative path is
 * taken from $CREDENTIALS_DIRECTORY when set (systemd LoadCredential=).
 * NULL + errbuf on error. */
char *rf_config_read_secret(const char *path, size_t *len, char *errbuf, size_t errlen);
/* Writes the reference documentation of every key (the body of conf/rectify.conf). */
void rf_config_write_reference(FILE *f);

#endif
