/* The stopping flag; see stop.h.  One atomic bool, no locks. */
#include "base/stop.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>

static bool stopping; /* __atomic */
static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
static struct sigaction saved[3];
static bool installed;

void hub_stop_request(void)
{
	__atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
}

bool hub_stop_requested(void)
{
	return __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
}

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
	hub_stop_request();
	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++) {
		if (sigs[i] != sig)
			continue;
		if (saved[i].sa_flags & SA_SIGINFO) {
			if (saved[i].sa_sigaction)
				saved[i].sa_sigaction(sig, si, ctx);
		} else if (saved[i].sa_handler != SIG_DFL && saved[i].sa_handler != SIG_IGN &&
			   saved[i].sa_handler) {
			saved[i].sa_handler(sig);
		}
	}
}

int hub_stop_install(void)
{
	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		if (sigaction(sigs[i], &sa, &saved[i]))
			return -errno;
	installed = true;
	return 0;
}

void hub_stop_uninstall(void)
{
	if (!installed)
		return;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++)
		sigaction(sigs[i], &saved[i], NULL);
	installed = false;
}
