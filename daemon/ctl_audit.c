/* ctl_audit.c - `rectifyctl audit verify` and `rectifyctl audit prove KEY`.
 * Argument parsing only; the checks live in lib/audit.c. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "rectify/alloc.h"
#include "rectify/audit.h"
#include "rectify/config.h"
#include "rectify/error.h"
#include "rectify/pg.h"

typedef struct audit_args {
  const char *config, *db, *heads, *key_file, *chain;
  bool no_heads;
  const char *key; /* prove */
} audit_args_t;

typedef struct audit_ctx {
  PGconn *conn;
  unsigned char *key;
  size_t keylen;
  char *heads;
} audit_ctx_t;

static void usage_verify(FILE *f) {
  fprintf(f,
          "usage: rectifyctl audit verify [--config FILE | --db CONNINFO] [--heads FILE]\n"
          "                               [--no-heads] [--key-file FILE] [--chain ID]\n\n"
          "Walks every audit chain and checks every link, every batch's Merkle root\n"
          "against its rows, rows that no entry covers, and the recorded chain heads.\n"
          "Exit status: 0 all verified, 1 a break was found (the first is printed),\n"
          "2 usage or operational error.\n\n"
          "  --config FILE     rectify.conf: [postgres] conninfo/password_file,\n"
          "                    [audit] key_file and heads_file\n"
          "  --db CONNINFO     libpq conninfo (instead of, or overriding, --config)\n"
          "  --heads FILE      heads file to check (default: the config's heads_file)\n"
          "  --no-heads        do not check a heads file\n"
          "  --key-file FILE   audit HMAC key (default: the config's audit_key_file)\n"
          "  --chain ID        verify only this chain\n");
}

static void usage_prove(FILE *f) {
  fprintf(f, "usage: rectifyctl audit prove KEY [--config FILE | --db CONNINFO] [--key-file FILE]\n\n"
             "Prints the inclusion proof of the row stored under message KEY as JSON and\n"
             "checks it. Exit status: 0 verified, 1 not verified, 2 not found or error.\n");
}

/* Parses options; returns 0, or an exit code (>0) after printing why. */
static int parse(int argc, char **argv, audit_args_t *a, bool prove) {
  static const struct option opts[] = {
      {"config", required_argument, NULL, 'c'}, {"db", required_argument, NULL, 'd'},
      {"heads", required_argument, NULL, 'H'},  {"no-heads", no_argument, NULL, 'N'},
      {"key-file", required_argument, NULL, 'k'}, {"chain", required_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  memset(a, 0, sizeof(*a));
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': a->config = optarg; break;
    case 'd': a->db = optarg; break;
    case 'H': a->heads = optarg; break;
    case 'N': a->no_heads = true; break;
    case 'k': a->key_file = optarg; break;
    case 'C': a->chain = optarg; break;
    case 'h':
      prove ? usage_prove(stdout) : usage_verify(stdout);
      return -1;
    default:
      prove ? usage_prove(stderr) : usage_verify(stderr);
      return 2;
    }
  }
  if (prove) {
    if (optind + 1 != argc) {
      usage_prove(stderr);
      return 2;
    }
    a->key = argv[optind];
  } else if (optind != argc) {
    fprintf(stderr, "rectifyctl audit verify: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (a->config == NULL && a->db == NULL) {
    fprintf(stderr, "rectifyctl audit: --config FILE or --db CONNINFO is required\n");
    return 2;
  }
  return 0;
}

/* Connects and loads the key and heads path. Returns 0 or 2 after printing why. */
static int open_ctx(const audit_args_t *a, audit_ctx_t *ctx) {
  char err[1024];
  rf_config_t *cfg = NULL;
  char *password = NULL;
  int rc = 2;
  memset(ctx, 0, sizeof(*ctx));
  if (a->config) {
    cfg = rf_config_load(a->config, err, sizeof(err));
    if (cfg == NULL) {
      fprintf(stderr, "rectifyctl audit: %s\n", err);
      goto out;
    }
    if (cfg->pg_password_file && cfg->pg_password_file[0] && a->db == NULL) {
      password = rf_config_read_secret(cfg->pg_password_file, NULL, err, sizeof(err));
      if (password == NULL) {
        fprintf(stderr, "rectifyctl audit: %s\n", err);
        goto out;
      }
    }
  }
  const char *key_file = a->key_file ? a->key_file : cfg ? cfg->audit_key_file : NULL;
  if (key_file && key_file[0]) { /* "" in the config means no key */
    char *k = rf_config_read_secret(key_file, &ctx->keylen, err, sizeof(err));
    if (k == NULL) {
      fprintf(stderr, "rectifyctl audit: %s\n", err);
      goto out;
    }
    ctx->key = (unsigned char *)k;
  }
  const char *heads = a->no_heads ? NULL : a->heads ? a->heads : cfg ? cfg->heads_file : NULL;
  if (heads && (ctx->heads = rf_strdup(heads)) == NULL) {
    fprintf(stderr, "rectifyctl audit: out of memory\n");
    goto out;
  }
  const char *conninfo = a->db ? a->db : cfg->pg_conninfo;
  ctx->conn = rf_pg_connect(conninfo, password, "rectifyctl-audit", err, sizeof(err));
  if (ctx->conn == NULL) {
    fprintf(stderr, "rectifyctl audit: cannot connect to PostgreSQL: %s\n", err);
    goto out;
  }
  rc = 0;
out:
  if (password) {
    memset(password, 0, strlen(password));
    rf_free(password);
  }
  rf_config_free(cfg);
  return rc;
}

static void close_ctx(audit_ctx_t *ctx) {
  if (ctx->conn)
    PQfinish(ctx->conn);
  if (ctx->key) {
    memset(ctx->key, 0, ctx->keylen);
    rf_free(ctx->key);
  }
  rf_free(ctx->heads);
}

static void show_progress(const rf_audit_progress_t *p, void *arg) {
  (void)arg;
  double s = p->elapsed_s > 0 ? p->elapsed_s : 1;
  fprintf(stderr, "\rverifying chain=%s entries=%llu rows=%llu (%.0f entries/s, %.0f rows/s)   ",
          p->chain_id ? p->chain_id : "", (unsigned long long)p->entries,
          (unsigned long long)p->rows, (double)p->entries / s, (double)p->rows / s);
  fflush(stderr);
}

static int cmd_verify(int argc, char **argv) {
  audit_args_t a;
  audit_ctx_t ctx;
  int rc = parse(argc, argv, &a, false);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (open_ctx(&a, &ctx) != 0) {
    close_ctx(&ctx);
    return 2;
  }
  bool tty = isatty(STDERR_FILENO);
  rf_audit_verify_opts_t opts = {
      .chain_id = a.chain,
      .heads_file = ctx.heads,
      .key = ctx.key,
      .keylen = ctx.keylen,
      .progress = tty ? show_progress : NULL,
  };
  rf_audit_report_t rep;
  int err = rf_audit_verify(ctx.conn, &opts, &rep);
  if (tty)
    fprintf(stderr, "\n");
  printf("checked chains=%llu entries=%llu rows=%llu heads=%llu%s\n",
         (unsigned long long)rep.chains, (unsigned long long)rep.entries,
         (unsigned long long)rep.rows, (unsigned long long)rep.heads_checked,
         ctx.heads ? "" : " (no heads file)");
  if (rep.notes[0])
    fputs(rep.notes, stdout);
  if (err == 0) {
    printf("OK: audit chain verified\n");
    rc = 0;
  } else if (err == RF_ECORRUPT) {
    printf("BROKEN: %s\n", rep.message);
    rc = 1;
  } else {
    fprintf(stderr, "rectifyctl audit verify: %s (%s)\n", rep.message, rf_strerror(err));
    rc = 2;
  }
  close_ctx(&ctx);
  return rc;
}

static int cmd_prove(int argc, char **argv) {
  audit_args_t a;
  audit_ctx_t ctx;
  int rc = parse(argc, argv, &a, true);
  if (rc)
    return rc < 0 ? 0 : rc;
  if (open_ctx(&a, &ctx) != 0) {
    close_ctx(&ctx);
    return 2;
  }
  rf_audit_verify_opts_t opts = {.key = ctx.key, .keylen = ctx.keylen};
  rf_buf_t out = RF_BUF_INIT;
  char err[1024] = "";
  int e = rf_audit_prove(ctx.conn, a.key, &opts, &out, err, sizeof(err));
  if (out.len)
    printf("%s\n", out.data);
  if (e == 0) {
    rc = 0;
  } else if (e == RF_ECORRUPT) {
    fprintf(stderr, "rectifyctl audit prove: NOT VERIFIED: %s\n", err);
    rc = 1;
  } else {
    fprintf(stderr, "rectifyctl audit prove: %s (%s)\n", err, rf_strerror(e));
    rc = 2;
  }
  rf_buf_free(&out);
  close_ctx(&ctx);
  return rc;
}

RF_CTL_COMMAND(audit_verify, "audit verify", "audit verify [--config FILE | --db CONNINFO] ...",
               "verify the audit chain, rows and recorded heads", cmd_verify)
RF_CTL_COMMAND(audit_prove, "audit prove", "audit prove KEY [--config FILE | --db CONNINFO]",
               "print and check one row's inclusion proof", cmd_prove)
