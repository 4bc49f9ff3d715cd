/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Image transfers over HTTP between xbootd and xboot-agent: deploys fetch
 * an image's chunks, captures upload them. This header is the contract;
 * xbootd's side is userspace/xbootd/http.c and image_xfer.c, the agent's
 * follows it. The image format itself is include/xboot/image.h.
 *
 * WHY HTTP
 *   The image's data file is already a sequence of independent frames, so
 *   a chunk is one byte range: xbootd splices it from the page cache to the
 *   socket (zero-copy, like boot files), many deploys share one loop, and
 *   a resume is one Range request. The agent session (agent.h) only says
 *   what to do; bulk bytes never go through its TLS stream.
 *
 * THE JOB
 *   The operator queues one of (args as given to `xbootctl job add`):
 *     image-deploy  NAME DISK    NAME must be an image in the store
 *     image-capture DISK NAME    NAME must be a valid name, not yet taken
 *   When xbootd sends the JOB frame it appends two arguments:
 *     args[2]  URL  the image's base URL, "http://ADDR:PORT/images/NAME/",
 *                   ADDR the address the agent's session reached xbootd
 *                   at, PORT http-port
 *     args[3]  KEY  the job's key: IMAGE_HTTP_KEY_LEN random bytes as
 *                   lowercase hex (IMAGE_HTTP_KEY_HEX characters)
 *   xbootd keeps only the SHA-256 of KEY's text, on the job. A JOB frame
 *   sent again (XBA_F_RESENT, after a reconnect) carries a new KEY, which
 *   replaces the old one: the agent uses the KEY of the last JOB frame it
 *   got for the job.
 *
 * AUTHORISATION
 *   Every request below carries
 *     Authorization: Bearer KEY
 *   The KEY must be the current key of a job in flight (sent, accepted or
 *   running) whose type and image NAME match the URL: deploy URLs need an
 *   image-deploy key, capture URLs an image-capture key.
 *     401  no Authorization, not a Bearer KEY, or a KEY xbootd does not
 *          know (WWW-Authenticate: Bearer is sent)
 *     403  the KEY of a job that is not in flight, of the other type, or
 *          of another image
 *   Every refusal is logged with the peer's address. A refused request is
 *   answered before its body is read, and the connection is closed.
 *
 * DEPLOY (controller -> agent)
 *   GET  URL "manifest"   200, the image's manifest file (image.h); a
 *                         Range is honoured too.
 *   GET  URL "data"       the data file; with
 *                           Range: bytes=A-B
 *                         206 and bytes A..B. A must be the offset of a
 *                         chunk with a frame and B + 1 the end of a
 *                         chunk's frame (a range may cover several frames
 *                         in a row): else 400. Past the end: 416. Without
 *                         Range: 200, the whole file.
 *   HEAD is allowed on both. Requests may come in any order, on any number
 *   of keep-alive connections (IMAGE_HTTP_CONNS_PER_JOB is what xbootd is
 *   sized for). The agent checks every frame against the manifest before
 *   writing it (xbootd does not re-hash what it serves); after a dropped
 *   connection it asks again for what it did not get, from its resume
 *   point. A data file that is cut short under a transfer ends the
 *   connection before the promised length.
 *
 * CAPTURE (agent -> controller), in this order, on one connection at a
 * time (a new connection after a drop is fine):
 *   POST URL "start"      body {"size": S, "chunk_size": C}: the source's
 *                         size in bytes and the chunk size (a power of two,
 *                         64 KiB..64 MiB). 201 {"next": 0}: a new capture.
 *                         200 {"next": N}: this job's capture already runs
 *                         with the same S and C (a resume after a dropped
 *                         connection): chunks below N are stored, send N
 *                         on. 409: NAME exists in the store, or the job's
 *                         capture runs with another S or C, or has failed.
 *                         422: S or C unusable.
 *   PUT  URL "chunk/" I   body: chunk I's zstd frame (as the codec's
 *                         image_encode_chunk() makes it); header
 *                           X-Xboot-Raw-Length: the raw chunk's length
 *                         (the chunk size; the last chunk may be short).
 *                         I ascending; an index skipped is a hole (an
 *                         all-zero chunk: send nothing for it). Each frame
 *                         is decoded and hashed (image_writer_put_frame())
 *                         before the answer:
 *                         200 {"next": I + 1}    stored
 *                         409 {"error", "next"}  I is below next (already
 *                                                stored: skip it), or no
 *                                                capture is started
 *                         422 {"error"}          the frame is bad (its
 *                                                reason): the capture has
 *                                                FAILED, its staging is
 *                                                removed; a later start
 *                                                answers 409
 *                         400 without X-Xboot-Raw-Length; 413 a body over
 *                         HTTP_BODY_MAX (http_parse.h: 64 MiB + 512 KiB).
 *   POST URL "finish"     body {"size": S, "sha256": "64 hex",
 *                         "ptable": "none"|"mbr"|"gpt"} (ptable optional):
 *                         the source's size and whole SHA-256 as the agent
 *                         read them. The remaining chunks become holes,
 *                         the manifest is written and read back, its size,
 *                         SHA-256 (and ptable when given) compared, and the
 *                         image published under NAME in one rename:
 *                         201 {"name", "size", "sha256", "chunks", "holes",
 *                              "data_size"}
 *                         409 no capture started, or NAME appeared since
 *                         422 a mismatch (why): the capture has failed and
 *                             left nothing
 *   POST URL "abort"      200: the agent gives up; the staging is removed.
 *   Requests with a body may send "Expect: 100-continue": xbootd answers
 *   100 once the request is authorised, or the refusal.
 *
 *   AN IMAGE APPEARS ONLY AT FINISH. A capture that is aborted, fails (a
 *   bad frame, a mismatch at finish), whose job stops being in flight
 *   (failed, timed out, cancelled: seen within IMAGE_HTTP_TICK_S), or that
 *   hears nothing for IMAGE_HTTP_CAPTURE_IDLE_S (the agent is gone) is
 *   dropped with its staging directory. A capture cut by an xbootd
 *   restart leaves a staging directory that the image store's start-up
 *   sweep removes; the agent's next start is answered 201 (from chunk 0).
 *
 * BODIES of errors and answers are JSON objects with "error" (text) when
 * something was refused; the status code is what to act on.
 *
 * PROGRESS
 *   xbootd turns the transfers into the machine's phase detail (shown by
 *   `xbootctl watch`), at most once every IMAGE_HTTP_PROGRESS_S per job:
 *     "job 12 image-deploy web: 1.2 GiB of 4.0 GiB, 110.5 MiB/s, ETA 25 s"
 *     "job 13 image-capture db: 512.0 MiB of 8.0 GiB, 95.0 MiB/s, ETA 81 s"
 *   (the rate is the average since the job's first request; no ETA at the
 *   end). A client that parses it takes "DONE of TOTAL" after the colon.
 *   Deploy bytes are where the furthest chunk whose frame was asked for
 *   ends in the source (holes before it count); capture bytes the same
 *   for the chunks stored.
 *
 * COST ON XBOOTD'S LOOP
 *   Serving a deploy costs no CPU per byte (splice). Each capture chunk is
 *   decoded, hashed (XXH3 and SHA-256) and written by the loop's thread
 *   before it answers: a few milliseconds per 4 MiB chunk, about 100 ms
 *   for a 64 MiB one, during which DHCP, TFTP and the agents wait. That
 *   caps all captures together at roughly 0.5-1 GB/s of raw disk and
 *   keeps a capture's chunk size at the 4 MiB default on a busy boot
 *   server; captures in flight are limited to IMAGE_HTTP_CAPTURES_MAX
 *   (more: 503 with Retry-After), and a chunk body being received holds
 *   its Content-Length of memory (at most HTTP_BODY_MAX), at most 16 of
 *   them at once (503 past that): 64 MiB with 4 MiB chunks, 1 GiB with
 *   64 MiB ones.
 */
#ifndef _XBOOT_IMAGE_HTTP_H
#define _XBOOT_IMAGE_HTTP_H

#define IMAGE_HTTP_PREFIX "/images/"
#define IMAGE_HTTP_KEY_LEN 32	/* random bytes of a job's key */
#define IMAGE_HTTP_KEY_HEX 64	/* its text: lowercase hex */

#define IMAGE_HTTP_JOB_ARG_URL 2	/* appended after the operator's */
#define IMAGE_HTTP_JOB_ARG_KEY 3
#define IMAGE_HTTP_JOB_ARGS 2	/* operator's arguments of image jobs */

#define IMAGE_HTTP_RAW_LENGTH "X-Xboot-Raw-Length"

#define IMAGE_HTTP_CONNS_PER_JOB 4
#define IMAGE_HTTP_CAPTURES_MAX 32
#define IMAGE_HTTP_CAPTURE_IDLE_S 120
#define IMAGE_HTTP_TICK_S 1
#define IMAGE_HTTP_PROGRESS_S 1

#endif /* _XBOOT_IMAGE_HTTP_H */
