"""The exit statuses of `docent`, one meaning each, so scripts and CI can tell them apart."""

OK = 0  # everything asked for was done
FAILURES = 1  # the run finished but some files failed (ingest, sync, reindex and job reports name them)
USAGE = 2  # a usage or configuration error: argparse's own status, and every DocentError (its code on stderr)
CRASH = 3  # an uncaught error: a defect; one line on stderr, the traceback under DOCENT_LOG_LEVEL=DEBUG
INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
