/* error.c - names and messages for RF_E* codes, generated from one table. */
#include "rectify/error.h"

const char *rf_strerror(int err) {
  switch (err) {
#define RF_X_MSG(name, val, msg) \
  case RF_E##name:               \
    return msg;
    RF_ERRNO_MAP(RF_X_MSG)
#undef RF_X_MSG
  case 0:
    return "success";
  }
  return "unknown error";
}

const char *rf_err_name(int err) {
  switch (err) {
#define RF_X_NAME(name, val, msg) \
  case RF_E##name:                \
    return #name;
    RF_ERRNO_MAP(RF_X_NAME)
#undef RF_X_NAME
  case 0:
    return "OK";
  }
  return "UNKNOWN";
}
