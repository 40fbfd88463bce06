/* test_service_notify.c - rectifyd speaks systemd's notify protocol.
 *
 * The test is the service manager: it binds a datagram socket, points
 * NOTIFY_SOCKET at it, sets WATCHDOG_USEC, and checks that rectifyd sends
 * READY=1, then WATCHDOG=1 pings at least twice per watchdog period, then
 * STOPPING=1 when SIGTERM arrives, drains, and exits 0 with nothing lost. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core_env.h"

#define N 5000

typedef struct notify_log {
  int fd;
  int ready, watchdog, stopping, status;
} notify_log_t;

static void drain_socket(notify_log_t *l, int wait_ms) {
  struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
  while (poll(&pfd, 1, wait_ms) > 0) {
    char buf[4096];
    ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
      break;
    buf[n] = '\0';
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
      if (strcmp(line, "READY=1") == 0)
        l->ready++;
      else if (strcmp(line, "WATCHDOG=1") == 0)
        l->watchdog++;
      else if (strcmp(line, "STOPPING=1") == 0)
        l->stopping++;
      else if (strncmp(line, "STATUS=", 7) == 0)
        l->status++;
    }
    wait_ms = 0;
  }
}

static void test_notify(void **state) {
  (void)state;
  core_env_t e;
  env_start(&e, NULL);
  notify_log_t l = {0};
  char path[600];
  snprintf(path, sizeof(path), "%s/notify.sock", e.dir);
  l.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true(l.fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(path) < sizeof(sa.sun_path));
  memcpy(sa.sun_path, path, strlen(path) + 1);
  assert_int_equal(bind(l.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

  char bin[600], env_sock[700];
  snprintf(bin, sizeof(bin), "%s/rectifyd", rf_h_bin_dir());
  snprintf(env_sock, sizeof(env_sock), "NOTIFY_SOCKET=%s", path);
  snprintf(e.log, sizeof(e.log), "%s/rectifyd.log", e.dir);
  char *argv[] = {bin, "-c", e.conf, NULL};
  char *env[] = {env_sock, "WATCHDOG_USEC=400000", NULL};
  assert_int_equal(rf_h_spawn(&e.daemon, argv, env, e.log), 0);

  drain_socket(&l, 5000);
  assert_int_equal(l.ready, 1);
  produce(&e, 0, N, "n");
  /* 2 s of a 400 ms watchdog: at least 5 pings (rectifyd pings every 200 ms). */
  int before = l.watchdog;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    drain_socket(&l, 100);
    clock_gettime(CLOCK_MONOTONIC, &t1);
  } while (t1.tv_sec - t0.tv_sec < 2);
  assert_true(l.watchdog - before >= 5);
  assert_true(l.status >= 1);
  wait_all_done(&e, N, 60000);

  rf_h_signal(&e.daemon, SIGTERM);
  int st = 0;
  assert_int_equal(rf_h_wait(&e.daemon, 30000, &st) < 0, 0);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  drain_socket(&l, 200);
  assert_int_equal(l.stopping, 1);
  printf("notify: READY=1 x%d, WATCHDOG=1 x%d, STATUS x%d, STOPPING=1 x%d, exit 0\n", l.ready,
         l.watchdog, l.status, l.stopping);
  check_accounting(&e, N);
  close(l.fd);
  env_stop(&e);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_notify)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
