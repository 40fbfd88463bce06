/* Until the lambda language lands: keeps rectify_lambda non-empty. */
int rf__lambda_placeholder(void);
int rf__lambda_placeholder(void) { return 0; }
