/* cdi.h - contigctl cdi: a Container Device Interface spec that gives a
 * container contigd's socket, and nothing more.
 */
#ifndef CONTIG_TOOLS_CDI_H
#define CONTIG_TOOLS_CDI_H

/* contigctl cdi [--output FILE] [--container-path PATH] [--offline]: the spec for the
 * socket at @socket_path (NULL: $CONTIGD_SOCKET, else the default path),
 * printed or written to FILE (atomically). @argv[0] is "cdi". Returns the
 * exit status: 0, 1 (failed, said on stderr) or 2 (usage). */
int cdi_cmd(const char *socket_path, int argc, char **argv);

#endif
