/* SPDX-License-Identifier: MIT */
/*
 * The NBD server: one export per volume, each on its own unix socket
 * (LISTEN_DIR/NAME.sock, what a guest sees), any number of connections
 * (conn.c), up to SD_SLOTS requests in flight per connection. An accept
 * thread per export; the worker pool is started and stopped here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bulkhead/fdio.h"
#include "bulkhead/log.h"
#include "stordom.h"

static void *accept_main(void *arg)
{
	struct sd_export *e = arg;

	for (;;) {
		int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
		int r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down by sd_server_remove */
		}
		r = sd_conn_start(e, fd);
		if (r < 0) {
			bh_warn("%s: connection refused: %s", e->name, strerror(-r));
			close(fd);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------------
 * Exports.
 */
/* The guest's NBD socket: owner only (on the host platform the guest is bridged in). */
static int listen_unix(const char *path)
{
	int fd = bh_unix_listen(path, SOCK_STREAM, 16);

	if (fd >= 0 && chmod(path, 0600) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static struct sd_export *find_export(struct sd_server *srv, const char *name,
				     struct sd_export ***ret_link)
{
	for (struct sd_export **p = &srv->exports; *p; p = &(*p)->next)
		if (bh_streq((*p)->name, name)) {
			if (ret_link)
				*ret_link = p;
			return *p;
		}
	return NULL;
}

static void export_free(struct sd_export *e)
{
	if (e->lfd >= 0)
		close(e->lfd);
	if (e->sock_path[0])
		unlink(e->sock_path);
	sd_volume_close(e->v);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->cond);
	free(e);
}

static int export_new(struct sd_server *srv, const char *name, struct sd_volume *v,
		      bool discard, struct sd_export **ret)
{
	struct sd_export *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->srv = srv;
	e->discard = discard;
	e->lfd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	if (srv->dir[0]) {
		if (snprintf(e->sock_path, sizeof(e->sock_path), "%s/%s.sock", srv->dir, name) >=
		    (int)sizeof(e->sock_path))
			r = -ENAMETOOLONG;
		else
			r = e->lfd = listen_unix(e->sock_path);
		if (r < 0) {
			e->sock_path[0] = '\0';
			export_free(e);
			return r;
		}
	}
	e->v = v;
	*ret = e;
	return 0;
}

int sd_server_add(struct sd_server *srv, const char *name, struct sd_volume *v, bool discard)
{
	struct sd_export *e = NULL;
	int r;

	pthread_mutex_lock(&srv->lock);
	r = find_export(srv, name, NULL) ? -EEXIST : export_new(srv, name, v, discard, &e);
	if (r == 0 && e->lfd >= 0) {
		r = -pthread_create(&e->acceptor, NULL, accept_main, e);
		e->acceptor_started = r == 0;
	}
	if (r == 0) {
		e->next = srv->exports;
		srv->exports = e;
	} else if (e) {
		e->v = NULL; /* still the caller's on failure */
		export_free(e);
	}
	pthread_mutex_unlock(&srv->lock);
	return r;
}

/* No new connections, hang up the open ones, wait until their requests are answered. */
static void export_stop(struct sd_export *e)
{
	pthread_mutex_lock(&e->lock);
	e->closing = true;
	if (e->lfd >= 0)
		shutdown(e->lfd, SHUT_RDWR);
	for (struct sd_conn *c = e->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	while (e->n_conns)
		pthread_cond_wait(&e->cond, &e->lock);
	pthread_mutex_unlock(&e->lock);
	if (e->acceptor_started)
		pthread_join(e->acceptor, NULL);
}

int sd_server_remove(struct sd_server *srv, const char *name)
{
	struct sd_export **link = NULL, *e;

	pthread_mutex_lock(&srv->lock);
	e = find_export(srv, name, &link);
	if (e)
		*link = e->next;
	pthread_mutex_unlock(&srv->lock);
	if (!e)
		return -ENOENT;
	export_stop(e);
	export_free(e); /* wipes the key */
	return 0;
}

/*
 * Control operations on a served volume (grow). Connections keep the size
 * they negotiated; growing only extends the file past it, so requests in
 * flight are not disturbed and only new connections see the new size.
 */
int sd_server_with_volume(struct sd_server *srv, const char *name,
			  int (*fn)(struct sd_volume *v, void *arg), void *arg)
{
	struct sd_export *e;
	int r = -ENOENT;

	pthread_mutex_lock(&srv->lock);
	e = find_export(srv, name, NULL);
	if (e) {
		pthread_mutex_lock(&e->lock);
		r = fn(e->v, arg);
		pthread_mutex_unlock(&e->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return r;
}

int sd_server_serve_fd(struct sd_server *srv, const char *name, int fd)
{
	struct sd_export *e;
	int r = -ENOENT;

	pthread_mutex_lock(&srv->lock);
	e = find_export(srv, name, NULL);
	if (e)
		r = sd_conn_start(e, fd);
	pthread_mutex_unlock(&srv->lock);
	return r;
}

/* ------------------------------------------------------------------------
 * The server.
 */
int sd_server_new(const char *listen_dir, unsigned n_workers, struct sd_server **ret)
{
	struct sd_server *srv = calloc(1, sizeof(*srv));
	int r = 0;

	if (!srv)
		return -ENOMEM;
	if (listen_dir && snprintf(srv->dir, sizeof(srv->dir), "%s", listen_dir) >=
				  (int)sizeof(srv->dir)) {
		free(srv);
		return -ENAMETOOLONG;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->qlock, NULL);
	pthread_cond_init(&srv->qcond, NULL);
	srv->workers = calloc(n_workers ? n_workers : 1, sizeof(*srv->workers));
	if (!srv->workers)
		r = -ENOMEM;
	for (unsigned i = 0; r == 0 && i < (n_workers ? n_workers : 1); i++) {
		pthread_mutex_lock(&srv->qlock);
		srv->n_awake++; /* until it first waits */
		pthread_mutex_unlock(&srv->qlock);
		r = -pthread_create(&srv->workers[i], NULL, sd_worker_main, srv);
		if (r == 0)
			srv->n_workers++;
		else
			srv->n_awake--;
	}
	if (r < 0) {
		sd_server_free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

void sd_server_free(struct sd_server *srv)
{
	if (!srv)
		return;
	while (srv->exports)
		sd_server_remove(srv, srv->exports->name);
	pthread_mutex_lock(&srv->qlock);
	srv->stopping = true;
	pthread_cond_broadcast(&srv->qcond);
	pthread_mutex_unlock(&srv->qlock);
	for (unsigned i = 0; i < srv->n_workers; i++)
		pthread_join(srv->workers[i], NULL);
	free(srv->workers);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->qlock);
	pthread_cond_destroy(&srv->qcond);
	free(srv);
}
