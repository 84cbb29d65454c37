/* sockdrill: the backend registry and instance lifetime (the sd_no_* stubs: stubs.c). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

const char *sd_version(void) { return SD_VERSION_STRING; }

/* Built-in backends; a new backend adds one line here. */
static const struct sd_ops *const builtin[] = {
	&sd_real_ops,
	&sd_sim_ops,
};
#define NBUILTIN (sizeof builtin / sizeof builtin[0])

/* Backends registered at run time. The registry is the one process-wide table sockdrill
 * keeps; it holds pointers only, so instances stay independent. */
#define SD__MAX_EXTRA 32
static const struct sd_ops *extra[SD__MAX_EXTRA];
static size_t nextra;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static int sd__ops_complete(const struct sd_ops *o)
{
	return o->version >= 1 && o->name && o->name[0] && o->create && o->destroy && o->socket &&
	       o->bind && o->listen && o->accept && o->connect && o->send && o->recv &&
	       o->sendmsg && o->recvmsg && o->shutdown && o->close && o->setsockopt &&
	       o->getsockopt && o->getsockname && o->getpeername && o->poll && o->set_nonblocking &&
	       (o->version < 2 || (o->spawn && o->join && o->sleep_ns && o->now_ns)) &&
	       (o->version < 3 || (o->epoll_create && o->epoll_ctl && o->epoll_wait)) &&
	       (o->version < 4 || (o->wake && o->note)) && (o->version < 5 || o->dup) &&
	       (o->version < 6 || o->dup3) &&
	       (o->version < 7 || (o->caps && o->join_until && o->actor_name && o->ioctl));
}

const struct sd_ops *sd_backend_at(size_t i)
{
	const struct sd_ops *o = NULL;
	if (i < NBUILTIN)
		return builtin[i];
	pthread_mutex_lock(&registry_lock);
	if (i - NBUILTIN < nextra)
		o = extra[i - NBUILTIN];
	pthread_mutex_unlock(&registry_lock);
	return o;
}

const struct sd_ops *sd_find(const char *name)
{
	const struct sd_ops *o;
	if (!name)
		return NULL;
	for (size_t i = 0; (o = sd_backend_at(i)) != NULL; i++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* The name is looked up and the table added under one hold of the lock: two threads
 * registering the same name must not both find it free. */
int sd_register(const struct sd_ops *ops)
{
	int rc = 0;
	if (!ops || !sd__ops_complete(ops))
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < NBUILTIN + nextra && rc == 0; i++) {
		const struct sd_ops *o = i < NBUILTIN ? builtin[i] : extra[i - NBUILTIN];
		if (strcmp(o->name, ops->name) == 0)
			rc = -EEXIST;
	}
	if (rc == 0 && nextra == SD__MAX_EXTRA)
		rc = -ENOSPC;
	else if (rc == 0)
		extra[nextra++] = ops;
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

int sd_net_open(struct sd_net *net, const char *name, const struct sd_config *cfg)
{
	static const struct sd_config defaults;
	const struct sd_ops *ops = sd_find(name);
	void *state = NULL;
	int rc;

	net->ops = NULL;
	net->state = NULL;
	if (!ops)
		return -ENOENT;
	rc = ops->create(cfg ? cfg : &defaults, &state);
	if (rc < 0)
		return rc;
	net->ops = ops;
	net->state = state;
	return 0;
}

int sd_backend_caps(const char *name)
{
	struct sd_net net;
	int rc = sd_net_open(&net, name, NULL);
	if (rc < 0)
		return rc;
	unsigned caps = sd_caps(&net);
	sd_net_close(&net);
	return (int)(caps & INT_MAX);
}

void sd_net_close(struct sd_net *net)
{
	if (net && net->ops) {
		net->ops->destroy(net->state);
		net->ops = NULL;
		net->state = NULL;
	}
}
