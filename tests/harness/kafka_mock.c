/* kafka_mock.c - a librdkafka mock cluster as a process, for integration tests
 * and benchmarks.
 *
 * librdkafka ships an in-process mock Kafka cluster (rdkafka_mock.h). Other
 * processes (rectifyd instances, rectifyctl produce) reach it over loopback at
 * the address rd_kafka_mock_cluster_bootstraps() returns, so this program
 * owns one: it creates the topics, prints one line
 *
 *   bootstrap=127.0.0.1:PORT
 *
 * on stdout, and runs until SIGTERM or SIGINT. Mind the mock's limits
 * (librdkafka 2.0.2): about 5 MiB per partition are kept, older data is
 * silently dropped, and a consumer group join takes about 3 s.
 *
 * usage: kafka_mock [--brokers N] TOPIC:PARTITIONS...
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: kafka_mock [--brokers N] TOPIC:PARTITIONS...\n");
  return 2;
}

int main(int argc, char **argv) {
  int brokers = 1, first = 1;
  if (argc > 2 && strcmp(argv[1], "--brokers") == 0) {
    brokers = atoi(argv[2]);
    first = 3;
    if (brokers < 1 || brokers > 16)
      return usage();
  }
  if (first >= argc)
    return usage();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* librdkafka's threads inherit it */

  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafka_mock: %s\n", err);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == NULL) {
    fprintf(stderr, "kafka_mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == NULL) {
    fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (int i = first; i < argc; i++) {
    char *colon = strrchr(argv[i], ':');
    int parts = colon ? atoi(colon + 1) : 0;
    if (colon == NULL || colon == argv[i] || parts < 1 || parts > 1000) {
      fprintf(stderr, "kafka_mock: expected TOPIC:PARTITIONS, not '%s'\n", argv[i]);
      return 2;
    }
    *colon = '\0';
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, argv[i], parts, 1);
    if (e) {
      fprintf(stderr, "kafka_mock: topic %s: %s\n", argv[i], rd_kafka_err2str(e));
      return 1;
    }
  }
  printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
