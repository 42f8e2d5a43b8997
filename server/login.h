/**
 * login.h — `POST /auth/login` on the HTTP port: {username, password} →
 * {access_token, token_type: "bearer", expires_in}, over srv_users_login
 * (users.h). Failures: 400 for a body that is not that, 401
 * {"error": "invalid username or password"} (never saying whether the user
 * exists), 429 with Retry-After after repeated failures from one address.
 * Loop thread; register before tp_http_start.
 */
#ifndef MCPBOX_SRV_LOGIN_H
#define MCPBOX_SRV_LOGIN_H

#include "users.h"

void srv_login_routes(struct srv_users *u);

#endif
