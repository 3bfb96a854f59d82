/* SPDX-License-Identifier: MIT */
/*
 * How long the two ends of tpm.chan spin for the other before they sleep
 * (struct vt_spin in vtpm.h). Measured on the 2-vCPU VMs this project runs
 * on: a system call costs ~2 us; an eventfd wake-up of a task whose vCPU was
 * busy ~5-10 us, but of one whose vCPU had gone idle for a few hundred
 * microseconds ~60-70 us (the hypervisor has to run the vCPU again; a timer
 * wake-up pays it too). So:
 *
 *  - The budget follows what the waits take: twice the last one, between
 *    SPIN_MIN_NS and the caller's cap. A client waiting for a Quote (~300 us)
 *    on an otherwise quiet machine spins through it and sees the response at
 *    once, where sleeping cost an idle vCPU's wake-up. (Quote was at 0.78x
 *    libtpms in-process with 5-50 us spins: ~90 us a Quote lost in the
 *    hand-off, not in the compute: the worker's TPMLIB_Process takes what
 *    in-process libtpms takes, the same instruction count under callgrind,
 *    and nothing is stored.) Only a call that waited teaches anything: input
 *    found at the first look leaves the budget (and yield_first) as it was.
 *    A caller that slept looks once more after its wake-up (the client's
 *    stream read finds the response still in the ring; the worker's
 *    vt_wchan_run() after vt_wchan_event()), and that look used to learn a
 *    zero wait, i.e. SPIN_MIN_NS: with client and worker on two CPUs every
 *    Quote then slept on both sides, ~85 us each (traced per Quote: the
 *    worker's eventfd write to the sleeping client 31 us, the client's
 *    wake-up 40, the worker's own wake-up for the next command 14) and the
 *    bench read 0.77x. A command longer than the cap (RSA, key generation)
 *    is slept through after one capped spin. The spinner holds no more CPU
 *    than the worker is spending on the command.
 *  - A spin that ran out (SPIN_MIN_NS at least) and whose input then came
 *    within SPIN_USELESS_NS of falling asleep was useless: the peer was waiting
 *    for our CPU (both on one CPU, or preempted). The next spin is
 *    SPIN_SHORT_NS.
 *  - Past YIELD_AFTER_NS it yields at every look: when the scheduler has put
 *    both ends on one CPU (it does, when other work loads the other one), a
 *    yield hands the CPU straight to the peer, one system call and no
 *    wake-up. If the input came in such a yield, the next wait yields at its
 *    first look (a handoff there costs ~10 us a round trip, two task
 *    switches; spinning first made it ~16).
 *  - A yield that comes back late without the input, or a jump in the clock
 *    between two looks (preempted), means a third task wants this CPU, if
 *    the kernel switched this thread out meanwhile (its context-switch count,
 *    getrusage(), read once a wait passes COUNT_AFTER_NS and again at a gap).
 *    Otherwise the time went to the hypervisor or an interrupt: measured
 *    under SCHED_FIFO with nothing else to run, a spinning vCPU here loses
 *    20-90 us ~1500 times a second, no switch. Taken for preemptions, those
 *    made the client sleep through about half the Quotes (0.80x libtpms with
 *    client and worker on two CPUs, even with the first fix; 0.97x without).
 *    A spinner that yields to a third task has not asked to be woken, so a
 *    response that comes meanwhile waits for the end of that task's time
 *    slice (measured:
 *    PCR_Extend fell from ~100k/s to 3-8k/s with two busy loops on the
 *    machine, below swtpm). So it stops and sleeps at once, and for a while
 *    it never yields and spins at most SPIN_BUSY_MAX_NS: a sleeper that is
 *    woken gets a CPU back sooner than a spinner that was preempted, and the
 *    CPU goes to whoever else is runnable. The while is BUSY_MIN_NS, doubled
 *    each time the next preemption comes soon after it ends (busy loops that
 *    never sleep: one time slice lost per BUSY_MAX_NS at worst), so that on
 *    a machine merely busy with ordinary work the yields keep working.
 */
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "vtpm.h"

#define SPIN_MIN_NS 20000u	 /* about two wake-ups */
#define SPIN_SHORT_NS 3000u	 /* after a useless spin: the peer answers in ~1 us if it runs */
#define SPIN_USELESS_NS 10000u	 /* input this soon after falling asleep: the peer needed our CPU */
#define SPIN_BUSY_MAX_NS 50000u	 /* longest spin while other tasks compete for the CPUs */
#define YIELD_AFTER_NS 2000u	 /* a peer running on another CPU answers in ~1 us */
#define SWITCHED_NS 3000u	 /* a yield this long ran another task (alone: ~1.2 us) */
#define PREEMPTED_NS 20000u	 /* off CPU this long between two looks: a third task ran */
#define BUSY_MIN_NS 200000u	 /* how long a first preemption keeps spins short, yield-free */
#define BUSY_MAX_NS 64000000u	 /* ... doubled at each one that follows, up to this */
#define LOOK_EVERY 32		 /* pauses between two looks at the clock (~0.6 us) */
#define COUNT_AFTER_NS 10000u	 /* a wait this long reads the switch count (one system call) */

void vt_spin_init(struct vt_spin *s, uint32_t cap_ns)
{
	s->cap_ns = cap_ns < SPIN_MIN_NS ? SPIN_MIN_NS : cap_ns;
	s->budget_ns = SPIN_MIN_NS;
	s->start_ns = 0;
	s->slept_ns = 0;
	s->busy_until_ns = 0;
	s->busy_ns = 0;
	s->yield_first = false;
	s->switches = UINT64_MAX;
}

/* The wait that began at s->start_ns ended at @now: twice it is the next budget. */
static void learn(struct vt_spin *s, uint64_t now)
{
	uint64_t waited = now - s->start_ns;

	if (waited > s->cap_ns)
		s->budget_ns = SPIN_MIN_NS;
	else
		s->budget_ns = waited * 2 < SPIN_MIN_NS ? SPIN_MIN_NS
			       : waited * 2 > s->cap_ns ? s->cap_ns
							: (uint32_t)(waited * 2);
	s->start_ns = 0;
}

/* This wait's budget: the learnt one, but little and no yields while the CPUs are contended. */
static uint64_t budget(struct vt_spin *s, uint64_t now, bool *ret_busy)
{
	*ret_busy = now < s->busy_until_ns;
	if (*ret_busy && s->budget_ns > SPIN_BUSY_MAX_NS)
		return SPIN_SHORT_NS;
	return s->budget_ns;
}

/*
 * A third task took our CPU from @from until @now: back off from yields and
 * long spins for a while, twice as long as last time if that had ended only
 * just before. Busy loops that never sleep take the CPU at every yield (backs
 * off to BUSY_MAX_NS: one lost time slice per period); a machine busy with
 * ordinary work rarely.
 */
static void preempted(struct vt_spin *s, uint64_t from, uint64_t now)
{
	bool recent = s->busy_until_ns && from - s->busy_until_ns < s->busy_ns;

	if (!recent)
		s->busy_ns = BUSY_MIN_NS;
	else if (s->busy_ns < BUSY_MAX_NS)
		s->busy_ns *= 2;
	s->busy_until_ns = now + s->busy_ns;
}

/* How often the kernel has switched this thread out (sleeps, yields that ran another task, preemptions). */
static uint64_t switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return UINT64_MAX;
	return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

/*
 * Whether a gap between two looks was a task of this machine's running on
 * our CPU: only then did the kernel switch us out. An equal count taken
 * before the gap (this wait's, or an older one's) proves it did not.
 */
static bool switched_out(struct vt_spin *s)
{
	uint64_t n = switches();
	bool out = n == UINT64_MAX || n != s->switches;

	s->switches = n;
	return out;
}

int vt_spin(struct vt_spin *s, int (*ready)(void *ctx), void *ctx)
{
	uint64_t t = bh_now_ns(), last = t, limit;
	uint64_t yield_after = s->yield_first ? 0 : YIELD_AFTER_NS;
	bool busy, gap = false, switched = false, counted = false;

	s->start_ns = t;
	limit = budget(s, t, &busy);
	for (unsigned i = 1;; i++) {
		int r = ready(ctx);

		if (r != 0 && i == 1) {
			/* Not a wait: nothing learnt, nothing forgotten (see above). */
			s->start_ns = 0;
			return r;
		}
		if (r != 0) {
			if (r > 0)
				learn(s, bh_now_ns());
			/* The peer answered in the yield: it shares our CPU, yield at once next time. */
			s->yield_first = switched;
			return r;
		}
		if (gap && !switched_out(s)) {
			gap = false; /* the hypervisor's or an interrupt's time, not a task's */
			last = t;
		} else if (gap) {
			/* Off CPU since @last, and the peer did not answer meanwhile: a third task ran. */
			preempted(s, last, t);
			s->slept_ns = s->start_ns; /* not a spin the peer waited for */
			s->yield_first = false;
			return 0;
		}
		bh_cpu_relax();
		if (i % LOOK_EVERY)
			continue;
		t = bh_now_ns();
		gap = t - last > PREEMPTED_NS;
		if (gap)
			continue; /* one more look at the input first */
		if (t - s->start_ns > limit)
			break;
		if (!counted && t - s->start_ns >= COUNT_AFTER_NS) {
			s->switches = switches(); /* what a gap from now on is compared with */
			counted = true;
		}
		last = t;
		if (!busy && t - s->start_ns >= yield_after) {
			sched_yield();
			t = bh_now_ns();
			switched = t - last > SWITCHED_NS;
			gap = t - last > PREEMPTED_NS;
			if (!gap)
				last = t;
		}
	}
	s->slept_ns = t; /* the caller goes to sleep now */
	s->yield_first = false;
	return 0;
}

void vt_spin_woken(struct vt_spin *s)
{
	uint64_t t = bh_now_ns();

	if (!s->start_ns)
		return;
	if (s->slept_ns - s->start_ns >= SPIN_MIN_NS && t - s->slept_ns < SPIN_USELESS_NS) {
		/* A full spin in vain, then input at once: the peer was waiting for our CPU. */
		s->budget_ns = SPIN_SHORT_NS;
		s->start_ns = 0;
		return;
	}
	learn(s, t);
}
