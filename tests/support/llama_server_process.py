"""llama.cpp's own OpenAI-compatible server (llama-server, embedded in the `xllamacpp` wheel) as a process of its
own, for tests: `python tests/support/llama_server_process.py --model FILE --port N --alias NAME`.

The server is llama.cpp's C++ one (`/v1/models`, `/v1/chat/completions`, `/v1/completions`, `/tokenize`, ...);
this script only fills its parameters and keeps the process alive until SIGTERM or SIGINT. Run as a file, not as
a module, so that it needs nothing but xllamacpp (see tests/support/llama_servers.py, which starts it).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", required=True, help="the model's name in /v1/models and in answers")
    parser.add_argument("--n_ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chat_template", type=Path, help="a Jinja chat template that replaces the GGUF's own")
    args = parser.parse_args()

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(args.model)
    params.model_alias = [args.alias]  # a set of names: a plain string would become a set of its letters
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    if args.chat_template is not None:
        params.chat_template = args.chat_template.read_text(encoding="utf-8")
        params.use_jinja = True
    server = xllamacpp.Server(params)  # listening when it returns
    print(f"llama.cpp server on {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    del server  # its destructor stops the loop and frees the model
    sys.exit(0)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait, on every thread
    main()
