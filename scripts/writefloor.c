// writefloor: the least CPU one core spends writing one frame to each of N
// loopback TCP sockets, with nothing but the kernel in the way. It bounds
// what any server can reach at 1 channel × 5,000 subscribers (see
// docs/performance.md, Known gaps): on loopback the writer's CPU also pays
// for the receiving side's TCP and for waking the reader.
//
//   apt-get install liburing-dev
//   gcc -O2 -o /tmp/writefloor scripts/writefloor.c -luring -lpthread
//   (ulimit -n 20000; /tmp/writefloor 5000 160 60)
//
// The writer runs on CPU 0, a reader draining every socket with epoll on
// CPU 1. Each of ROUNDS rounds (one every 50 ms, as at 20 events/s) writes
// one BYTES-long frame to every socket, either with one write(2) each or
// with all of them submitted to io_uring at once; modes alternate, and the
// writer's CPU time per round is printed for each.
#define _GNU_SOURCE
#include <liburing.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int n, *wfd, *rfd;
static volatile int stop;

static double seconds(clockid_t clock) {
	struct timespec t;
	clock_gettime(clock, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void pin(int cpu) {
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void *drain(void *arg) {
	(void)arg;
	pin(1);
	int ep = epoll_create1(0);
	for (int i = 0; i < n; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.fd = rfd[i]};
		epoll_ctl(ep, EPOLL_CTL_ADD, rfd[i], &e);
	}
	static char buf[65536];
	struct epoll_event ev[512];
	while (!stop) {
		int k = epoll_wait(ep, ev, 512, 100);
		for (int i = 0; i < k; i++)
			if (read(ev[i].data.fd, buf, sizeof buf) < 0)
				perror("read");
	}
	return NULL;
}

static void write_each(const char *frame, int len) {
	for (int i = 0; i < n; i++)
		if (write(wfd[i], frame, len) != len)
			perror("write");
}

static void submit_all(struct io_uring *ring, const char *frame, int len) {
	for (int done = 0; done < n;) {
		int batch = n - done > 4096 ? 4096 : n - done;
		for (int i = 0; i < batch; i++)
			io_uring_prep_send(io_uring_get_sqe(ring), wfd[done + i], frame, len, 0);
		io_uring_submit_and_wait(ring, batch);
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res != len)
				fprintf(stderr, "send: %d\n", cqe->res);
			seen++;
		}
		io_uring_cq_advance(ring, seen);
		done += batch;
	}
}

int main(int argc, char **argv) {
	n = argc > 1 ? atoi(argv[1]) : 5000;
	int len = argc > 2 ? atoi(argv[2]) : 160;
	int rounds = argc > 3 ? atoi(argv[3]) : 60;
	if (n <= 0 || len <= 0 || len > 4096 || rounds <= 0) {
		fprintf(stderr, "usage: writefloor [sockets] [bytes ≤ 4096] [rounds]\n");
		return 2;
	}
	pin(0);
	wfd = calloc(n, sizeof *wfd);
	rfd = calloc(n, sizeof *rfd);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096) || getsockname(ls, (void *)&a, &alen)) {
		perror("listen");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		rfd[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (rfd[i] < 0 || connect(rfd[i], (void *)&a, sizeof a) || (wfd[i] = accept(ls, NULL, NULL)) < 0) {
			perror("connect");
			return 1;
		}
		int one = 1;
		setsockopt(wfd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	struct io_uring ring;
	if (io_uring_queue_init(4096, &ring, 0)) {
		fprintf(stderr, "io_uring_queue_init failed\n");
		return 1;
	}
	pthread_t reader;
	pthread_create(&reader, NULL, drain, NULL);
	char *frame = malloc(len);
	memset(frame, 'x', len);
	for (int pass = 0; pass < 4; pass++) {
		int uring = pass % 2;
		double cpu = 0;
		for (int r = 0; r < rounds; r++) {
			double start = seconds(CLOCK_MONOTONIC), cpu0 = seconds(CLOCK_THREAD_CPUTIME_ID);
			if (uring)
				submit_all(&ring, frame, len);
			else
				write_each(frame, len);
			cpu += seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0;
			double left = 0.05 - (seconds(CLOCK_MONOTONIC) - start);
			if (left > 0) {
				struct timespec nap = {0, (long)(left * 1e9)};
				nanosleep(&nap, NULL);
			}
		}
		printf("%-8s %d sockets × %d B: %.2f ms of CPU per round, %.2f µs per write\n",
		       uring ? "io_uring" : "write", n, len, cpu / rounds * 1e3, cpu / rounds / n * 1e6);
	}
	stop = 1;
	pthread_join(reader, NULL);
	return 0;
}
