/* keeperd.h - the frame keeper process (see keeperd.c): what main.c runs
 * when contigd is started as the keeper, and how keeper.c starts one.
 */
#ifndef CONTIG_KEEPERD_H
#define CONTIG_KEEPERD_H

/* The keeper process: serve the listening socket @listen_fd, bound at
 * @path, until told to exit (writing its pid to <path>.pid meanwhile).
 * Returns the process's exit status. */
int contig_keeper_main(int listen_fd, const char *path);

/* argv[1] that makes contigd run contig_keeper_main() on descriptor 3,
 * argv[2] being the path. */
#define CONTIG_KEEPER_ARG "--frame-keeper"

#endif
