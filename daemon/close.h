/* How every daemon module that owns libuv handles is closed. One shape for all:
 *
 *     void bsup_<module>_close(struct bsup_<module> *x, bsup_close_fn cb, void *user);
 *
 * It stops the module (what is in flight is cancelled or, where the module says so, finished),
 * closes its handles and calls cb(user) once none is left and the module no longer touches x.
 * cb runs later, from the loop, never inside the close call; it may be NULL. Memory follows
 * libuv: an object the caller embeds or allocated is freed by the caller in cb, not before. */
#ifndef BSUP_DAEMON_CLOSE_H
#define BSUP_DAEMON_CLOSE_H

typedef void (*bsup_close_fn)(void *user);

#endif
