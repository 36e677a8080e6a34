"""A seeded fuzz soak of the embedded server (issue 10): generators, senders, outcome classes, the soak loop.

Used by ``bench/fuzz_soak.py`` (the benchmark) and ``tests/test_fuzz_soak.py`` (a 1,000-request run). Every
case is built from its own ``random.Random(f"{seed}/{transport}/{index}")``, so one case replays alone
(``fuzz_soak.py --seed S --replay rest:I``) and a run is the same sequence of requests every time.

Modules: :mod:`.cases` (what a case is, the outcome classes), :mod:`.classify` (statuses and codes to classes),
:mod:`.documents` (valid requests), :mod:`.images` and :mod:`.values` (hostile payloads), :mod:`.rest_gen` /
:mod:`.framing_gen` / :mod:`.grpc_gen` (the generators), :mod:`.http_raw` / :mod:`.senders` (sending and
classifying), :mod:`.models` / :mod:`.server` (what is served, the server process, its RSS), :mod:`.soak` (the
loop) and :mod:`.report` (table and JSON).
"""
