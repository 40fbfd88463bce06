/* harness.c - real servers for integration tests, started fast and never leaked.
 *
 * Why it looks like this:
 *  - PostgreSQL: initdb takes seconds, so a template cluster (database
 *    `rectify` already created, cleanly shut down) is built once per machine
 *    under /tmp/rf-pg-template-<major>, guarded by an flock so parallel ctest
 *    jobs build it once, and published by an atomic rename. Each test cluster
 *    is a `cp -a` of it plus an included config file (port, socket dir,
 *    loopback only, fsync on). initdb and postgres refuse to run as root, so
 *    as root the child drops to the `postgres` user itself between fork and
 *    exec (same effect as `runuser -u postgres --`, but the postmaster stays
 *    our direct child: we can waitpid() it and signal it without a wrapper).
 *  - Free ports: random in 20000-60000, probed with bind(); the server can
 *    still lose a race for it, so a start whose log says the address is in
 *    use is retried on a new port.
 *  - Nothing leaks: every child is registered. atexit and SIGTERM/SIGINT
 *    handlers stop them; PR_SET_PDEATHSIG covers SIGKILL of the test (ctest
 *    timeouts) and crashes; directories left by such deaths carry an `owner`
 *    pid file and are swept by the next run.
 *  - Allocation uses libc malloc on purpose: the harness must keep working
 *    while a test injects allocation failures into rectify.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define H_TMP "/tmp"
#define H_DIR_PREFIX "rf-h-"
#define H_MAX_CHILDREN 128
#define H_PG_READY_MS 60000
#define H_PG_STOP_MS 60000
#define H_REDIS_READY_MS 20000
#define H_START_ATTEMPTS 5

static void hmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hmsg(const char *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  fprintf(stderr, "harness: %s\n", line);
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* ---- registry of children and directories, and the emergency stop ---- */

enum h_kind { H_FREE = 0, H_PG, H_REDIS, H_PROC };

static struct {
  volatile sig_atomic_t pid;
  volatile sig_atomic_t kind;
} children[H_MAX_CHILDREN];
static char dirs[H_MAX_CHILDREN][512];
static pid_t owner_pid;
static struct sigaction old_term, old_int;
static int handlers_installed;

static void at_exit_cleanup(void);
static void on_fatal_signal(int sig);

static void install_handlers(void) {
  if (handlers_installed) {
    if (owner_pid != getpid()) {
      /* A forked child of the test: it inherited the handlers and the atexit
       * hook, but the registered entries are its parent's, not its own. */
      memset((void *)children, 0, sizeof(children));
      memset(dirs, 0, sizeof(dirs));
      owner_pid = getpid();
    }
    return;
  }
  owner_pid = getpid();
  atexit(at_exit_cleanup);
  handlers_installed = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, &old_term);
  sigaction(SIGINT, &sa, &old_int);
}

static void reg_child(pid_t pid, enum h_kind kind) {
  install_handlers();
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (children[i].kind == H_FREE) {
      children[i].pid = pid;
      children[i].kind = kind;
      return;
    }
  }
  hmsg("more than %d children registered; pid %d will not be stopped at exit",
       H_MAX_CHILDREN, (int)pid);
}

static void unreg_child(pid_t pid) {
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (children[i].kind != H_FREE && children[i].pid == pid) {
      children[i].kind = H_FREE;
      children[i].pid = 0;
    }
  }
}

static void reg_dir(const char *dir) {
  install_handlers();
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (dirs[i][0] == '\0') {
      snprintf(dirs[i], sizeof(dirs[i]), "%s", dir);
      return;
    }
  }
}

static void unreg_dir(const char *dir) {
  for (int i = 0; i < H_MAX_CHILDREN; i++)
    if (strcmp(dirs[i], dir) == 0)
      dirs[i][0] = '\0';
}

/* Signal every registered child (PostgreSQL gets pg_sig, the rest other_sig),
 * reap for up to grace_ms, then SIGKILL what is left. Async-signal-safe. */
static void stop_all(int pg_sig, int other_sig, int grace_ms) {
  int left = 0;
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (children[i].kind == H_FREE)
      continue;
    kill((pid_t)children[i].pid, children[i].kind == H_PG ? pg_sig : other_sig);
    left++;
  }
  for (int waited = 0; left > 0 && waited < grace_ms; waited += 10) {
    left = 0;
    for (int i = 0; i < H_MAX_CHILDREN; i++) {
      if (children[i].kind == H_FREE)
        continue;
      pid_t r = waitpid((pid_t)children[i].pid, NULL, WNOHANG);
      if (r == (pid_t)children[i].pid || (r == -1 && errno == ECHILD))
        children[i].kind = H_FREE;
      else
        left++;
    }
    if (left)
      sleep_ms(10);
  }
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (children[i].kind == H_FREE)
      continue;
    kill((pid_t)children[i].pid, SIGKILL);
    waitpid((pid_t)children[i].pid, NULL, 0);
    children[i].kind = H_FREE;
  }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (flag == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0; /* best effort: keep walking */
}

/* rm -rf path (never follows symlinks). */
static void rm_rf(const char *path) {
  nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static void at_exit_cleanup(void) {
  if (owner_pid != getpid())
    return; /* a forked child of the test exiting: not ours to clean */
  stop_all(SIGINT, SIGTERM, 10000);
  const char *keep = getenv("RF_H_KEEP");
  for (int i = 0; i < H_MAX_CHILDREN; i++) {
    if (dirs[i][0] == '\0')
      continue;
    if (keep && *keep && strcmp(keep, "0") != 0)
      hmsg("kept %s (RF_H_KEEP)", dirs[i]);
    else
      rm_rf(dirs[i]);
    dirs[i][0] = '\0';
  }
}

static void on_fatal_signal(int sig) {
  if (owner_pid == getpid())
    stop_all(SIGQUIT, SIGTERM, 2000);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGINT, &old_int, NULL);
  raise(sig);
}

/* ---- processes ---- */

typedef struct spawn_opts {
  int out_fd;      /* stdout; -1 inherits */
  int err_fd;      /* stderr; -1 inherits */
  uid_t uid;       /* (uid_t)-1: keep */
  gid_t gid;
  int pdeath_sig;  /* 0: none */
  const char *cwd; /* NULL: keep */
  int own_pgrp;
} spawn_opts_t;

/* Builds environ + extra ("K=V" replaces K). Returns a malloc'd array whose
 * strings are borrowed from environ/extra; NULL on allocation failure. */
static char **build_env(char *const extra[]) {
  size_t n = 0, m = 0;
  while (environ && environ[n])
    n++;
  while (extra && extra[m])
    m++;
  char **env = malloc((n + m + 1) * sizeof(*env));
  if (!env)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
    int replaced = 0;
    for (size_t j = 0; j < m && !replaced; j++)
      if (strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=')
        replaced = 1;
    if (!replaced)
      env[k++] = environ[i];
  }
  for (size_t j = 0; j < m; j++)
    env[k++] = extra[j];
  env[k] = NULL;
  return env;
}

/* Look up a program in PATH before fork (execvpe is not async-signal-safe). */
static int resolve_prog(const char *name, char *out, size_t outsz) {
  if (strchr(name, '/')) {
    snprintf(out, outsz, "%s", name);
    return access(out, X_OK);
  }
  const char *path = getenv("PATH");
  if (!path || !*path)
    path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  while (*path) {
    const char *colon = strchr(path, ':');
    size_t len = colon ? (size_t)(colon - path) : strlen(path);
    snprintf(out, outsz, "%.*s/%s", (int)len, len ? path : ".", name);
    if (access(out, X_OK) == 0)
      return 0;
    path += len + (colon ? 1 : 0);
  }
  return -1;
}

/* fork+exec; returns the child's pid or -1. */
static pid_t spawn_raw(char *const argv[], char *const envp[], const spawn_opts_t *o) {
  char prog[1024];
  if (resolve_prog(argv[0], prog, sizeof(prog)) != 0) {
    hmsg("cannot execute %s: not found or not executable", argv[0]);
    return -1;
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) {
    hmsg("open /dev/null: %s", strerror(errno));
    return -1;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    hmsg("fork: %s", strerror(errno));
    close(devnull);
    return -1;
  }
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (o->own_pgrp)
      setpgid(0, 0);
    if (o->gid != (gid_t)-1 && (setgroups(1, &o->gid) != 0 || setgid(o->gid) != 0))
      _exit(126);
    if (o->uid != (uid_t)-1 && setuid(o->uid) != 0)
      _exit(126);
    /* After the credential change, which would clear it. */
    if (o->pdeath_sig) {
      prctl(PR_SET_PDEATHSIG, o->pdeath_sig);
      if (getppid() != parent)
        _exit(1);
    }
    if (o->cwd && chdir(o->cwd) != 0)
      _exit(126);
    dup2(devnull, 0);
    if (o->out_fd >= 0)
      dup2(o->out_fd, 1);
    if (o->err_fd >= 0)
      dup2(o->err_fd, 2);
    execve(prog, argv, envp ? envp : environ);
    static const char m[] = "harness: execve failed\n";
    ssize_t ignored = write(2, m, sizeof(m) - 1);
    (void)ignored;
    _exit(127);
  }
  if (o->own_pgrp)
    setpgid(pid, pid); /* also here, so a kill(-pid) right after fork reaches it */
  close(devnull);
  return pid;
}

/* Runs argv to completion (output to out_fd or inherited); returns the exit
 * code, or -1 if it could not run or was killed. */
static int run_argv(char *const argv[], const spawn_opts_t *o) {
  pid_t pid = spawn_raw(argv, NULL, o);
  if (pid < 0)
    return -1;
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR)
      return -1;
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int rf_h_spawn(rf_h_proc_t *p, char *const argv[], char *const extra_env[], const char *logfile) {
  if (!p || !argv || !argv[0]) {
    hmsg("rf_h_spawn: no process or argv");
    return -1;
  }
  memset(p, 0, sizeof(*p));
  int fd = -1;
  if (logfile) {
    snprintf(p->log, sizeof(p->log), "%s", logfile);
    fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      hmsg("open %s: %s", logfile, strerror(errno));
      return -1;
    }
  }
  char **env = build_env(extra_env);
  if (!env) {
    hmsg("rf_h_spawn: out of memory");
    if (fd >= 0)
      close(fd);
    return -1;
  }
  spawn_opts_t o = {fd, fd, (uid_t)-1, (gid_t)-1, SIGKILL, NULL, 1};
  pid_t pid = spawn_raw(argv, env, &o);
  free(env);
  if (fd >= 0)
    close(fd);
  if (pid < 0)
    return -1;
  p->pid = (int)pid;
  reg_child(pid, H_PROC);
  return 0;
}

int rf_h_signal(rf_h_proc_t *p, int sig) {
  if (!p || p->pid <= 0) {
    hmsg("rf_h_signal: process not running");
    return -1;
  }
  if (kill((pid_t)p->pid, sig) != 0) {
    hmsg("kill %d: %s", p->pid, strerror(errno));
    return -1;
  }
  return 0;
}

/* waitpid with a timeout (< 0: forever). Returns 0 and *st when reaped,
 * 1 on timeout, -1 on error. */
static int wait_pid(pid_t pid, int timeout_ms, int *st) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    pid_t r = waitpid(pid, st, timeout_ms < 0 ? 0 : WNOHANG);
    if (r == pid)
      return 0;
    if (r < 0 && errno != EINTR)
      return -1;
    if (timeout_ms >= 0 && now_ms() >= deadline)
      return 1;
    if (r == 0)
      sleep_ms(10);
  }
}

int rf_h_wait(rf_h_proc_t *p, int timeout_ms, int *status) {
  if (!p || p->pid <= 0) {
    hmsg("rf_h_wait: process not running");
    return -1;
  }
  int st = 0;
  int r = wait_pid((pid_t)p->pid, timeout_ms, &st);
  if (r == 1)
    return -1;
  if (r < 0) {
    hmsg("waitpid %d: %s", p->pid, strerror(errno));
    unreg_child((pid_t)p->pid);
    p->pid = 0;
    return -1;
  }
  unreg_child((pid_t)p->pid);
  p->pid = 0;
  if (status)
    *status = st;
  return st;
}

int rf_h_run(const char *cmdline, char **out, int timeout_ms) {
  if (out)
    *out = NULL;
  if (!cmdline) {
    hmsg("rf_h_run: no command");
    return -1;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    hmsg("pipe: %s", strerror(errno));
    return -1;
  }
  char *argv[] = {"/bin/sh", "-c", (char *)cmdline, NULL};
  /* stdout only: stderr stays the test's. */
  spawn_opts_t o = {fds[1], -1, (uid_t)-1, (gid_t)-1, SIGKILL, NULL, 1};
  pid_t pid = spawn_raw(argv, NULL, &o);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return -1;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int st = 0, reaped = 0, timed_out = 0, oom = 0, eof = 0;
  long long deadline = now_ms() + timeout_ms;
  while (!eof) {
    int wait = 50;
    if (timeout_ms >= 0) {
      long long left = deadline - now_ms();
      if (left <= 0) {
        timed_out = 1;
        break;
      }
      if (left < wait)
        wait = (int)left;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int pr = poll(&pfd, 1, reaped ? 0 : wait);
    if (pr < 0 && errno != EINTR)
      break;
    if (pr > 0) {
      if (cap - len < 4096) {
        size_t ncap = cap ? cap * 2 : 8192;
        char *nb = realloc(buf, ncap);
        if (!nb) {
          oom = 1;
          break;
        }
        buf = nb;
        cap = ncap;
      }
      ssize_t n = read(fds[0], buf + len, cap - len - 1);
      if (n > 0)
        len += (size_t)n;
      else if (n == 0 || errno != EINTR)
        eof = 1;
      continue;
    }
    if (reaped)
      break; /* exited and nothing more to read right now (a grandchild may hold the pipe) */
    if (waitpid(pid, &st, WNOHANG) == pid)
      reaped = 1;
  }
  close(fds[0]);
  if (timed_out || oom) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  if (!reaped && wait_pid(pid, -1, &st) != 0)
    st = -1;
  if (timed_out) {
    hmsg("command timed out after %d ms: %s", timeout_ms, cmdline);
    free(buf);
    return -1;
  }
  if (oom) {
    hmsg("rf_h_run: out of memory");
    free(buf);
    return -1;
  }
  if (out) {
    if (!buf)
      buf = malloc(1);
    if (buf)
      buf[len] = '\0';
    *out = buf;
  } else {
    free(buf);
  }
  if (st == -1)
    return -1;
  if (WIFEXITED(st))
    return WEXITSTATUS(st);
  if (WIFSIGNALED(st))
    return 128 + WTERMSIG(st);
  return -1;
}

/* ---- small helpers ---- */

const char *rf_h_bin_dir(void) {
  const char *env = getenv("RF_BIN_DIR");
  if (env && *env)
    return env;
#ifdef RF_BIN_DIR
  return RF_BIN_DIR;
#else
  return ".";
#endif
}

char *rf_h_tmpdir(const char *prefix) {
  char tmpl[512];
  int n = snprintf(tmpl, sizeof(tmpl), H_TMP "/%sXXXXXX", prefix ? prefix : "rf-");
  if (n < 0 || (size_t)n >= sizeof(tmpl) || strchr(prefix ? prefix : "", '/')) {
    hmsg("rf_h_tmpdir: bad prefix");
    return NULL;
  }
  if (!mkdtemp(tmpl)) {
    hmsg("mkdtemp %s: %s", tmpl, strerror(errno));
    return NULL;
  }
  char *s = strdup(tmpl);
  if (!s)
    hmsg("rf_h_tmpdir: out of memory");
  return s;
}

int rf_h_write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    hmsg("open %s: %s", path, strerror(errno));
    return -1;
  }
  size_t len = strlen(content), off = 0;
  while (off < len) {
    ssize_t n = write(fd, content + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      hmsg("write %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    off += (size_t)n;
  }
  if (close(fd) != 0) {
    hmsg("close %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

bool rf_h_wait_until(bool (*pred)(void *arg), void *arg, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    if (pred(arg))
      return true;
    if (now_ms() >= deadline)
      return false;
    sleep_ms(50);
  }
}

/* Last lines of a log file on stderr, for a failed start. */
static void dump_tail(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  char buf[4096];
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  buf[n] = '\0';
  fclose(f);
  fprintf(stderr, "harness: --- tail of %s ---\n%s\nharness: --- end ---\n", path, buf);
}

static int free_port(void) {
  for (int attempt = 0; attempt < 200; attempt++) {
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
      r = (uint32_t)(now_ms() * 2654435761u) ^ (uint32_t)getpid();
    int port = 20000 + (int)(r % 40001);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
      continue;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    if (ok)
      return port;
  }
  hmsg("no free port found in 20000-60000");
  return -1;
}

/* Creates /tmp/rf-h-<kind>-XXXXXX with an owner file (our pid). */
static int make_server_dir(const char *kind, char *out, size_t outsz) {
  char prefix[64];
  snprintf(prefix, sizeof(prefix), H_DIR_PREFIX "%s-", kind);
  char *d = rf_h_tmpdir(prefix);
  if (!d)
    return -1;
  int n = snprintf(out, outsz, "%s", d);
  free(d);
  if (n < 0 || (size_t)n >= outsz) {
    hmsg("temp dir path too long");
    rm_rf(out);
    return -1;
  }
  char path[600], pidtxt[32];
  snprintf(path, sizeof(path), "%s/owner", out);
  snprintf(pidtxt, sizeof(pidtxt), "%d\n", (int)getpid());
  if (rf_h_write_file(path, pidtxt) != 0) {
    rm_rf(out);
    return -1;
  }
  reg_dir(out);
  return 0;
}

static pid_t read_pid_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long v = -1;
  if (fscanf(f, "%ld", &v) != 1)
    v = -1;
  fclose(f);
  return v > 0 ? (pid_t)v : -1;
}

static int pid_alive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Removes server dirs whose owning test process died without cleaning up
 * (SIGKILL by a ctest timeout). Runs before each server start: one readdir. */
static void sweep_stale(void) {
  DIR *d = opendir(H_TMP);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, H_DIR_PREFIX, strlen(H_DIR_PREFIX)) != 0)
      continue;
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), H_TMP "/%s", e->d_name);
    snprintf(path, sizeof(path), "%s/owner", dir);
    pid_t owner = read_pid_file(path);
    if (owner <= 0 || pid_alive(owner))
      continue;
    snprintf(path, sizeof(path), "%s/data/postmaster.pid", dir);
    pid_t pm = read_pid_file(path);
    if (pid_alive(pm)) {
      kill(pm, SIGQUIT); /* orphaned postmaster: stop it, remove next time */
      continue;
    }
    rm_rf(dir);
  }
  closedir(d);
}

/* ---- PostgreSQL ---- */

static struct {
  int init;
  char bindir[512];
  char major[16];
  uid_t uid;
  gid_t gid;
} pgenv;

static int pg_env(void) {
  if (pgenv.init)
    return 0;
  char path[600];
  const char *env = getenv("RF_PG_BINDIR");
  if (env && *env) {
    snprintf(pgenv.bindir, sizeof(pgenv.bindir), "%s", env);
  } else {
    char *out = NULL;
    if (rf_h_run("pg_config --bindir 2>/dev/null", &out, 10000) == 0 && out) {
      out[strcspn(out, "\r\n")] = '\0';
      snprintf(path, sizeof(path), "%s/initdb", out);
      if (access(path, X_OK) == 0)
        snprintf(pgenv.bindir, sizeof(pgenv.bindir), "%s", out);
    }
    free(out);
    if (!pgenv.bindir[0]) {
      /* Highest version under /usr/lib/postgresql. */
      DIR *d = opendir("/usr/lib/postgresql");
      long best = -1;
      struct dirent *e;
      while (d && (e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || v <= best)
          continue;
        snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/initdb", e->d_name);
        if (access(path, X_OK) == 0) {
          best = v;
          snprintf(pgenv.bindir, sizeof(pgenv.bindir), "/usr/lib/postgresql/%ld/bin", v);
        }
      }
      if (d)
        closedir(d);
    }
  }
  snprintf(path, sizeof(path), "%s/postgres", pgenv.bindir);
  if (!pgenv.bindir[0] || access(path, X_OK) != 0) {
    hmsg("PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin; "
         "set RF_PG_BINDIR); install the postgresql package");
    return -1;
  }
  /* "postgres (PostgreSQL) 15.14 (Debian ...)" -> "15" */
  char cmd[700], *out = NULL;
  snprintf(cmd, sizeof(cmd), "'%s' --version", path);
  if (rf_h_run(cmd, &out, 10000) != 0 || !out || !strstr(out, ") ")) {
    hmsg("cannot run %s --version", path);
    free(out);
    return -1;
  }
  const char *v = strstr(out, ") ") + 2;
  size_t n = strspn(v, "0123456789");
  if (n == 0 || n >= sizeof(pgenv.major)) {
    hmsg("unexpected version string from %s: %s", path, out);
    free(out);
    return -1;
  }
  memcpy(pgenv.major, v, n);
  pgenv.major[n] = '\0';
  free(out);
  pgenv.uid = (uid_t)-1;
  pgenv.gid = (gid_t)-1;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw) {
      hmsg("running as root but there is no `postgres` user to run PostgreSQL as");
      return -1;
    }
    pgenv.uid = pw->pw_uid;
    pgenv.gid = pw->pw_gid;
  }
  pgenv.init = 1;
  return 0;
}

static int chown_pg(const char *path) {
  if (pgenv.uid == (uid_t)-1)
    return 0;
  if (chown(path, pgenv.uid, pgenv.gid) != 0) {
    hmsg("chown %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

static spawn_opts_t pg_opts(int out_fd, const char *cwd, int pdeath) {
  spawn_opts_t o = {out_fd, out_fd, pgenv.uid, pgenv.gid, pdeath, cwd, 1};
  return o;
}

/* Starts the postmaster on datadir (settings from its config plus extra -c
 * options) and waits until ping_conninfo answers. Returns the pid, -1 on
 * failure, -2 when the log says the port was taken (retry elsewhere), -3 when
 * backends of a killed postmaster still hold the data dir (retry shortly). */
static pid_t pg_launch(const char *dir, const char *datadir, char *const extra_opts[],
                       const char *ping_conninfo) {
  char logpath[600], postgres[600];
  snprintf(logpath, sizeof(logpath), "%s/log/postgresql.log", dir);
  snprintf(postgres, sizeof(postgres), "%s/postgres", pgenv.bindir);
  int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    hmsg("open %s: %s", logpath, strerror(errno));
    return -1;
  }
  off_t log_start = lseek(fd, 0, SEEK_END);
  char *argv[16];
  int argc = 0;
  argv[argc++] = postgres;
  argv[argc++] = "-D";
  argv[argc++] = (char *)datadir;
  for (int i = 0; extra_opts && extra_opts[i] && argc < 14; i++)
    argv[argc++] = extra_opts[i];
  argv[argc] = NULL;
  spawn_opts_t o = pg_opts(fd, dir, SIGQUIT);
  pid_t pid = spawn_raw(argv, NULL, &o);
  close(fd);
  if (pid < 0)
    return -1;
  reg_child(pid, H_PG);
  long long deadline = now_ms() + H_PG_READY_MS;
  for (;;) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      unreg_child(pid);
      /* Only this start's part of the log decides whether it was the port. */
      int port_taken = 0, stale = 0;
      FILE *f = fopen(logpath, "r");
      if (f) {
        char line[1024];
        fseek(f, log_start, SEEK_SET);
        while (fgets(line, sizeof(line), f)) {
          if (strstr(line, "could not bind") || strstr(line, "Address already in use"))
            port_taken = 1;
          if (strstr(line, "pre-existing shared memory block") ||
              strstr(line, "lock file \"postmaster.pid\" already exists"))
            stale = 1;
        }
        fclose(f);
      }
      if (port_taken)
        return -2;
      if (stale)
        return -3;
      hmsg("postgres exited during start-up (status %d)", st);
      dump_tail(logpath);
      return -1;
    }
    if (PQping(ping_conninfo) == PQPING_OK)
      return pid;
    if (now_ms() >= deadline) {
      hmsg("postgres did not accept connections within %d ms", H_PG_READY_MS);
      dump_tail(logpath);
      kill(pid, SIGQUIT);
      if (wait_pid(pid, 5000, &st) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
      }
      unreg_child(pid);
      return -1;
    }
    sleep_ms(20);
  }
}

/* Fast shutdown, escalating to immediate and SIGKILL. */
static int pg_shutdown(pid_t pid) {
  int st;
  kill(pid, SIGINT);
  int r = wait_pid(pid, H_PG_STOP_MS, &st);
  if (r == 1) {
    hmsg("postgres %d ignored fast shutdown for %d ms; sending SIGQUIT", (int)pid, H_PG_STOP_MS);
    kill(pid, SIGQUIT);
    r = wait_pid(pid, 5000, &st);
    if (r == 1) {
      kill(pid, SIGKILL);
      r = wait_pid(pid, -1, &st);
    }
  }
  unreg_child(pid);
  return r == 0 ? 0 : -1;
}

static int lock_fd_open(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) {
    hmsg("open %s: %s", path, strerror(errno));
    return -1;
  }
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      hmsg("flock %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
  }
  return fd;
}

/* Builds the template cluster in tmpdir: initdb, start on a private socket,
 * CREATE DATABASE rectify, clean shutdown. */
static int build_template(const char *tmpdir) {
  char data[700], sock[700], logdir[700], initdb[700], logpath[800]; /* tmpdir < 600 */
  snprintf(data, sizeof(data), "%s/data", tmpdir);
  snprintf(sock, sizeof(sock), "%s/sock", tmpdir);
  snprintf(logdir, sizeof(logdir), "%s/log", tmpdir);
  snprintf(logpath, sizeof(logpath), "%s/initdb.log", logdir);
  snprintf(initdb, sizeof(initdb), "%s/initdb", pgenv.bindir);
  if (mkdir(tmpdir, 0700) != 0 || mkdir(sock, 0700) != 0 || mkdir(logdir, 0700) != 0) {
    hmsg("mkdir under %s: %s", tmpdir, strerror(errno));
    return -1;
  }
  if (chown_pg(tmpdir) || chown_pg(sock) || chown_pg(logdir))
    return -1;
  int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    hmsg("open %s: %s", logpath, strerror(errno));
    return -1;
  }
  char *argv[] = {initdb, "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                  "--locale=C", "--no-instructions", NULL};
  spawn_opts_t o = pg_opts(fd, tmpdir, SIGKILL);
  int rc = run_argv(argv, &o);
  close(fd);
  if (rc != 0) {
    hmsg("initdb failed (exit %d)", rc);
    dump_tail(logpath);
    return -1;
  }
  char sockopt[800], ping[900];
  snprintf(sockopt, sizeof(sockopt), "unix_socket_directories=%s", sock);
  snprintf(ping, sizeof(ping), "host=%s port=5432 dbname=postgres user=postgres connect_timeout=5",
           sock);
  char *opts[] = {"-c", "listen_addresses=", "-c", "port=5432", "-c", sockopt, NULL};
  pid_t pid = pg_launch(tmpdir, data, opts, ping);
  if (pid < 0)
    return -1;
  int ret = -1;
  PGconn *c = PQconnectdb(ping);
  if (PQstatus(c) != CONNECTION_OK)
    hmsg("template connect: %s", PQerrorMessage(c));
  else if (rf_h_pg_exec(c, "CREATE DATABASE rectify") == 0)
    ret = 0;
  PQfinish(c);
  if (pg_shutdown(pid) != 0)
    ret = -1;
  return ret;
}

/* Makes sure /tmp/rf-pg-template-<major>[-uid<uid>] exists; fills path. */
static int ensure_template(char *path, size_t pathsz) {
  if (geteuid() == 0)
    snprintf(path, pathsz, H_TMP "/rf-pg-template-%s", pgenv.major);
  else
    snprintf(path, pathsz, H_TMP "/rf-pg-template-%s-uid%d", pgenv.major, (int)geteuid());
  char ready[700], lock[700], tmp[600];
  snprintf(ready, sizeof(ready), "%s/READY", path);
  if (access(ready, F_OK) == 0)
    return 0;
  snprintf(lock, sizeof(lock), "%s.lock", path);
  snprintf(tmp, sizeof(tmp), "%.580s.tmp", path);
  int lfd = lock_fd_open(lock);
  if (lfd < 0)
    return -1;
  int ret = 0;
  if (access(ready, F_OK) != 0) {
    long long t0 = now_ms();
    rm_rf(tmp);
    rm_rf(path); /* an incomplete one from an older harness */
    ret = build_template(tmp);
    if (ret == 0) {
      snprintf(ready, sizeof(ready), "%s/READY", tmp);
      ret = rf_h_write_file(ready, "ok\n");
    }
    if (ret == 0 && rename(tmp, path) != 0) {
      hmsg("rename %s -> %s: %s", tmp, path, strerror(errno));
      ret = -1;
    }
    if (ret == 0)
      hmsg("built PostgreSQL %s template %s in %lld ms", pgenv.major, path, now_ms() - t0);
    else
      rm_rf(tmp);
  }
  flock(lfd, LOCK_UN);
  close(lfd);
  return ret;
}

static int pg_write_conf(const rf_h_pg_t *pg) {
  char path[700], conf[1400];
  snprintf(path, sizeof(path), "%s/data/rf_harness.conf", pg->dir);
  snprintf(conf, sizeof(conf),
           "# written by the rectify test harness\n"
           "listen_addresses = '127.0.0.1'\n"
           "port = %d\n"
           "unix_socket_directories = '%s/sock'\n"
           "fsync = on\n"
           "max_connections = 50\n"
           "logging_collector = off\n"
           "log_min_messages = warning\n"
           "log_line_prefix = '%%m [%%p] '\n",
           pg->port, pg->dir);
  if (rf_h_write_file(path, conf) != 0 || chown_pg(path) != 0)
    return -1;
  return 0;
}

static int pg_launch_cluster(rf_h_pg_t *pg) {
  char data[600], ping[600];
  snprintf(data, sizeof(data), "%s/data", pg->dir);
  snprintf(ping, sizeof(ping), "%s connect_timeout=5", pg->conninfo);
  pid_t pid = pg_launch(pg->dir, data, NULL, ping);
  if (pid < 0)
    return (int)pid;
  pg->pid = (int)pid;
  return 0;
}

int rf_h_pg_start(rf_h_pg_t *pg) {
  if (!pg) {
    hmsg("rf_h_pg_start: NULL");
    return -1;
  }
  memset(pg, 0, sizeof(*pg));
  if (pg_env() != 0)
    return -1;
  sweep_stale();
  char tmpl[600];
  if (ensure_template(tmpl, sizeof(tmpl)) != 0)
    return -1;
  if (make_server_dir("pg", pg->dir, sizeof(pg->dir)) != 0)
    return -1;
  char src[700], dst[700], sock[700], logdir[700];
  snprintf(src, sizeof(src), "%s/data", tmpl);
  snprintf(dst, sizeof(dst), "%s/data", pg->dir);
  snprintf(sock, sizeof(sock), "%s/sock", pg->dir);
  snprintf(logdir, sizeof(logdir), "%s/log", pg->dir);
  char *cp[] = {"cp", "-a", src, dst, NULL};
  spawn_opts_t o = {-1, -1, (uid_t)-1, (gid_t)-1, SIGKILL, NULL, 0};
  if (run_argv(cp, &o) != 0) {
    hmsg("cp -a %s %s failed", src, dst);
    goto fail;
  }
  if (mkdir(sock, 0700) != 0 || mkdir(logdir, 0700) != 0) {
    hmsg("mkdir under %s: %s", pg->dir, strerror(errno));
    goto fail;
  }
  if (chown_pg(pg->dir) || chown_pg(sock) || chown_pg(logdir))
    goto fail;
  struct stat sb;
  if (pgenv.uid != (uid_t)-1 && stat(dst, &sb) == 0 && sb.st_uid != pgenv.uid) {
    char uidgid[64];
    snprintf(uidgid, sizeof(uidgid), "%d:%d", (int)pgenv.uid, (int)pgenv.gid);
    char *ch[] = {"chown", "-R", uidgid, dst, NULL};
    if (run_argv(ch, &o) != 0) {
      hmsg("chown -R %s %s failed", uidgid, dst);
      goto fail;
    }
  }
  char confpath[800], include[] = "\ninclude 'rf_harness.conf'\n";
  snprintf(confpath, sizeof(confpath), "%s/postgresql.conf", dst);
  FILE *f = fopen(confpath, "a");
  if (!f || fputs(include, f) < 0 || fclose(f) != 0) {
    hmsg("append to %s: %s", confpath, strerror(errno));
    goto fail;
  }
  for (int attempt = 0; attempt < H_START_ATTEMPTS; attempt++) {
    pg->port = free_port();
    if (pg->port < 0)
      goto fail;
    snprintf(pg->conninfo, sizeof(pg->conninfo),
             "host=127.0.0.1 port=%d dbname=rectify user=postgres", pg->port);
    if (pg_write_conf(pg) != 0)
      goto fail;
    int r = pg_launch_cluster(pg);
    if (r == 0)
      return 0;
    if (r != -2)
      goto fail;
    hmsg("port %d was taken, retrying on another", pg->port);
  }
  hmsg("postgres could not bind a port after %d attempts", H_START_ATTEMPTS);
fail:
  rf_h_pg_destroy(pg);
  return -1;
}

int rf_h_pg_stop(rf_h_pg_t *pg) {
  if (!pg || pg->pid <= 0) {
    hmsg("rf_h_pg_stop: cluster not running");
    return -1;
  }
  int r = pg_shutdown((pid_t)pg->pid);
  pg->pid = 0;
  if (r != 0)
    hmsg("rf_h_pg_stop: could not reap postgres");
  return r;
}

int rf_h_pg_restart(rf_h_pg_t *pg) {
  if (!pg || !pg->dir[0] || pg->port <= 0) {
    hmsg("rf_h_pg_restart: cluster was never started");
    return -1;
  }
  if (pg->pid > 0) {
    /* A postmaster the test killed itself counts as stopped once reaped
     * (a signal takes a moment to end it). */
    int st;
    if (wait_pid((pid_t)pg->pid, 2000, &st) != 0) {
      hmsg("rf_h_pg_restart: cluster is running (stop it first)");
      return -1;
    }
    unreg_child((pid_t)pg->pid);
    pg->pid = 0;
  }
  /* After a crash, orphaned backends hold the data dir until they notice. */
  long long deadline = now_ms() + 15000;
  int r;
  while ((r = pg_launch_cluster(pg)) == -3 && now_ms() < deadline)
    sleep_ms(200);
  if (r == -2) {
    char logpath[600];
    snprintf(logpath, sizeof(logpath), "%s/log/postgresql.log", pg->dir);
    hmsg("rf_h_pg_restart: port %d is now taken by someone else", pg->port);
    dump_tail(logpath);
  } else if (r == -3) {
    hmsg("rf_h_pg_restart: processes of the previous postmaster still hold %s", pg->dir);
  }
  return r == 0 ? 0 : -1;
}

void rf_h_pg_destroy(rf_h_pg_t *pg) {
  if (!pg)
    return;
  if (pg->pid > 0)
    rf_h_pg_stop(pg);
  if (pg->dir[0]) {
    rm_rf(pg->dir);
    unreg_dir(pg->dir);
  }
  memset(pg, 0, sizeof(*pg));
}

PGconn *rf_h_pg_connect(const rf_h_pg_t *pg) {
  if (!pg || !pg->conninfo[0]) {
    hmsg("rf_h_pg_connect: cluster not started");
    return NULL;
  }
  PGconn *c = PQconnectdb(pg->conninfo);
  if (!c) {
    hmsg("PQconnectdb: out of memory");
    return NULL;
  }
  if (PQstatus(c) != CONNECTION_OK) {
    hmsg("connect %s: %s", pg->conninfo, PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  return c;
}

long long rf_h_pg_scalar(PGconn *c, const char *sql) {
  if (!c || !sql) {
    hmsg("rf_h_pg_scalar: no connection or sql");
    return -1;
  }
  PGresult *res = PQexec(c, sql);
  long long v = -1;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    hmsg("query failed: %s: %s", sql, c ? PQerrorMessage(c) : "");
  } else if (PQntuples(res) < 1 || PQnfields(res) < 1) {
    hmsg("query returned no rows: %s", sql);
  } else if (PQgetisnull(res, 0, 0)) {
    hmsg("query returned NULL: %s", sql);
  } else {
    const char *s = PQgetvalue(res, 0, 0);
    char *end;
    errno = 0;
    if (strcmp(s, "t") == 0) {
      v = 1;
    } else if (strcmp(s, "f") == 0) {
      v = 0;
    } else {
      v = strtoll(s, &end, 10);
      if (errno || end == s || *end != '\0') {
        hmsg("query returned a non-integer '%s': %s", s, sql);
        v = -1;
      }
    }
  }
  PQclear(res);
  return v;
}

int rf_h_pg_exec(PGconn *c, const char *sql) {
  if (!c || !sql) {
    hmsg("rf_h_pg_exec: no connection or sql");
    return -1;
  }
  PGresult *res = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(res);
  int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
  if (!ok)
    hmsg("exec failed: %s\n  sql: %.300s", PQerrorMessage(c), sql);
  PQclear(res);
  return ok ? 0 : -1;
}

/* ---- Redis ---- */

static int redis_ping(int port) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  int ok = 0;
  if (c && !c->err) {
    redisReply *rep = redisCommand(c, "PING");
    ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
    if (rep)
      freeReplyObject(rep);
  }
  if (c)
    redisFree(c);
  return ok;
}

int rf_h_redis_start(rf_h_redis_t *r) {
  if (!r) {
    hmsg("rf_h_redis_start: NULL");
    return -1;
  }
  memset(r, 0, sizeof(*r));
  sweep_stale();
  const char *server = getenv("RF_REDIS_SERVER");
  if (!server || !*server)
    server = "redis-server";
  char prog[1024];
  if (resolve_prog(server, prog, sizeof(prog)) != 0) {
    hmsg("%s not found; install the redis-server package or set RF_REDIS_SERVER", server);
    return -1;
  }
  if (make_server_dir("redis", r->dir, sizeof(r->dir)) != 0)
    return -1;
  char logpath[600];
  snprintf(logpath, sizeof(logpath), "%s/redis.log", r->dir);
  for (int attempt = 0; attempt < H_START_ATTEMPTS; attempt++) {
    r->port = free_port();
    if (r->port < 0)
      goto fail;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", r->port);
    char *argv[] = {prog,         "--port", portstr, "--bind",      "127.0.0.1", "--save", "",
                    "--appendonly", "no",     "--dir", r->dir,      "--daemonize", "no",     NULL};
    int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      hmsg("open %s: %s", logpath, strerror(errno));
      goto fail;
    }
    off_t log_start = lseek(fd, 0, SEEK_END);
    spawn_opts_t o = {fd, fd, (uid_t)-1, (gid_t)-1, SIGTERM, r->dir, 1};
    pid_t pid = spawn_raw(argv, NULL, &o);
    close(fd);
    if (pid < 0)
      goto fail;
    reg_child(pid, H_REDIS);
    r->pid = (int)pid;
    long long deadline = now_ms() + H_REDIS_READY_MS;
    int st, exited = 0;
    while (!redis_ping(r->port)) {
      if (waitpid(pid, &st, WNOHANG) == pid) {
        exited = 1;
        break;
      }
      if (now_ms() >= deadline) {
        hmsg("redis-server did not answer PING within %d ms", H_REDIS_READY_MS);
        dump_tail(logpath);
        goto fail;
      }
      sleep_ms(10);
    }
    if (!exited)
      return 0;
    unreg_child(pid);
    r->pid = 0;
    int port_taken = 0;
    FILE *f = fopen(logpath, "r");
    if (f) {
      char line[1024];
      fseek(f, log_start, SEEK_SET);
      while (fgets(line, sizeof(line), f))
        if (strstr(line, "Address already in use"))
          port_taken = 1;
      fclose(f);
    }
    if (!port_taken) {
      hmsg("redis-server exited during start-up (status %d)", st);
      dump_tail(logpath);
      goto fail;
    }
    hmsg("port %d was taken, retrying on another", r->port);
  }
  hmsg("redis-server could not bind a port after %d attempts", H_START_ATTEMPTS);
fail:
  rf_h_redis_destroy(r);
  return -1;
}

void rf_h_redis_destroy(rf_h_redis_t *r) {
  if (!r)
    return;
  if (r->pid > 0) {
    int st;
    kill((pid_t)r->pid, SIGTERM);
    if (wait_pid((pid_t)r->pid, 10000, &st) != 0) {
      hmsg("redis-server %d ignored SIGTERM; killing it", r->pid);
      kill((pid_t)r->pid, SIGKILL);
      wait_pid((pid_t)r->pid, -1, &st);
    }
    unreg_child((pid_t)r->pid);
  }
  if (r->dir[0]) {
    rm_rf(r->dir);
    unreg_dir(r->dir);
  }
  memset(r, 0, sizeof(*r));
}

redisContext *rf_h_redis_connect(const rf_h_redis_t *r) {
  if (!r || r->port <= 0) {
    hmsg("rf_h_redis_connect: server not started");
    return NULL;
  }
  struct timeval tv = {5, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
  if (!c) {
    hmsg("redisConnect: out of memory");
    return NULL;
  }
  if (c->err) {
    hmsg("connect 127.0.0.1:%d: %s", r->port, c->errstr);
    redisFree(c);
    return NULL;
  }
  /* The connect timeout also became the command timeout: lift it. */
  struct timeval none = {0, 0};
  redisSetTimeout(c, none);
  return c;
}
