/* ctl.h - rectifyctl sub-commands register themselves.
 *
 * Each daemon/ctl_<name>.c defines its command(s) with RF_CTL_COMMAND; the
 * registration runs before main(), so adding a command touches no shared file.
 * A command returns the process exit code (0 ok, 1 check failed, 2 usage or
 * operational error).
 */
#ifndef RECTIFY_CTL_H
#define RECTIFY_CTL_H

typedef int (*rf_ctl_fn)(int argc, char **argv);

void rf_ctl_register(const char *name, const char *usage, const char *summary, rf_ctl_fn fn);

#define RF_CTL_COMMAND(ident, name, usage, summary, fn)                       \
  __attribute__((constructor)) static void rf_ctl_register_##ident(void) {    \
    rf_ctl_register((name), (usage), (summary), (fn));                        \
  }

#endif
