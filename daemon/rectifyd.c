/* rectifyd - placeholder main until the pipeline lands. */
#include <stdio.h>
int main(void) {
  fprintf(stderr, "rectifyd: not built yet\n");
  return 2;
}
