/**
 * services.h — what the server gives the REST dialects beyond tool calls
 * (server/rest/rest.h, struct rest_services): users who log in and objects
 * kept in the store, API keys, over server/users.h, store.h and auth.h.
 * Loop thread; u and st must outlive the serving.
 */
#ifndef MCPBOX_SRV_SERVICES_H
#define MCPBOX_SRV_SERVICES_H

#include "store.h"
#include "users.h"

/** Hand the dialects their services (rest_set_services), before rest_start. */
void srv_services_start(struct srv_users *u, struct srv_store *st);

struct srv_auth;
/** The keys the dialects make keys with (key_make); a must outlive the serving. */
void srv_services_set_auth(struct srv_auth *a);

#endif
