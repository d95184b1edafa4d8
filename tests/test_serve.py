#!/usr/bin/env python3
"""pthrun serve end to end, over loopback, with real clients: the official `openai` package,
curl, and raw sockets. Completions (plain, streamed, several choices, log-probabilities, echo,
stop strings) against each other and against /tokenize; prompts scored (echo with logprobs)
against transformers' perplexity; 32 concurrent requests equal to their sequential results;
clients that disconnect mid-stream; 200 malformed or hostile requests; the API key; a full
queue; graceful shutdown. Every load is bounded in requests and time.

Run by ctest. `openai` comes from a venv that `third_party/install-deps.sh --test` makes
(~/.cache/pthrun/venv): the script re-runs itself there when the package is missing here. Without
it the client tests say so and are skipped, except under CI=true, where that is a failure.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_harness import HOST, Server, open_stream, sse_events, test_model, wait_for  # noqa: E402


def _import_openai():
    try:
        import openai
        return openai
    except ImportError:
        pass
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    venv_python = os.path.join(os.environ.get("PTHRUN_VENV", os.path.join(cache, "pthrun", "venv")), "bin", "python")
    if os.path.exists(venv_python) and os.environ.get("PTHRUN_SERVE_REEXEC") != "1":
        os.environ["PTHRUN_SERVE_REEXEC"] = "1"
        os.execv(venv_python, [venv_python] + sys.argv)
    if os.environ.get("CI") == "true":
        raise SystemExit("error: the openai package is missing; run third_party/install-deps.sh --test")
    print("SKIPPING the openai-client tests: the openai package is not installed "
          "(third_party/install-deps.sh --test makes a venv with it)", file=sys.stderr)
    return None


openai = _import_openai()
PROMPT = "Every effort moves you"


def completion(server, **body):
    status, data = server.json("POST", "/v1/completions", body)
    assert status == 200, data
    return data


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = test_model()
        cls.server = Server(cls.model, "--slots", "4", "--max-queue", "64", "--name", "tiny")
        completion(cls.server, prompt="warm up", max_tokens=2, temperature=0)
        cls.baseline = cls.server.metric("pthrun_allocated_bytes", device="cpu", scope="all")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, (code, "".join(cls.server.log[-20:]))

    def client(self, **kwargs):
        if openai is None:
            self.skipTest("the openai package is not installed")
        return openai.OpenAI(base_url=f"http://{HOST}:{self.server.port}/v1", api_key=kwargs.get("key", "unused"),
                             timeout=120, max_retries=0)

    def assert_idle_and_baseline(self):
        wait_for(lambda: self.server.metric("pthrun_slots_active") == 0, 10)
        self.assertEqual(self.server.metric("pthrun_slots_active"), 0)
        self.assertEqual(self.server.metric("pthrun_queue_depth"), 0)
        self.assertEqual(self.server.metric("pthrun_allocated_bytes", device="cpu", scope="all"), self.baseline)

    # --- endpoints ------------------------------------------------------------------------

    def test_health_models_tokenize_detokenize(self):
        status, body = self.server.json("GET", "/health")
        self.assertEqual((status, body["status"], body["slots_idle"] + body["slots_processing"]), (200, "ok", 4))
        status, body = self.server.json("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(body["data"][0]["id"], "tiny")
        self.assertEqual(body["data"][0]["meta"]["context"], 256)
        self.assertGreater(body["data"][0]["created"], 1.7e9)  # Unix seconds: when it was loaded
        self.assertEqual(self.server.json("GET", "/v1/models/tiny"), (200, body["data"][0]))
        status, body = self.server.json("GET", "/v1/models/gpt-4")
        self.assertEqual((status, body["error"]["code"], body["error"]["param"]), (404, "model_not_found", "model"))
        # OpenAI's published ids for "Hello, world".
        self.assertEqual(self.server.json("POST", "/tokenize", {"content": "Hello, world"}), (200, {"tokens": [15496, 11, 995]}))
        self.assertEqual(self.server.json("POST", "/detokenize", {"tokens": [15496, 11, 995]}),
                         (200, {"content": "Hello, world"}))
        # "€" is three bytes over two tokens: each alone decodes to U+FFFD, never to broken UTF-8.
        euro = self.server.json("POST", "/tokenize", {"content": "€"})[1]["tokens"]
        self.assertEqual(self.server.json("POST", "/detokenize", {"tokens": euro})[1]["content"], "€")
        if len(euro) > 1:
            self.assertIn("\ufffd", self.server.json("POST", "/detokenize", {"tokens": euro[:1]})[1]["content"])
        status, _, page = self.server.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"<canvas", page)
        self.assertNotIn(b"http://", page.replace(b"http://${", b""))  # no external asset

    def test_metrics_names(self):
        completion(self.server, prompt=PROMPT, max_tokens=3, temperature=0)
        m = self.server.metrics()
        names = {name for name, _ in m}
        for name in ["pthrun_requests_total", "pthrun_prompt_tokens_total", "pthrun_generated_tokens_total",
                     "pthrun_time_to_first_token_seconds_bucket", "pthrun_time_per_output_token_seconds_bucket",
                     "pthrun_slots_active", "pthrun_slots_total", "pthrun_queue_depth", "pthrun_allocated_bytes",
                     "pthrun_allocated_bytes_peak", "pthrun_reserved_bytes", "pthrun_reserved_bytes_peak",
                     "pthrun_num_device_alloc_total", "pthrun_num_cache_hits_total"]:
            self.assertIn(name, names)
        self.assertGreaterEqual(m[("pthrun_requests_total", frozenset({("endpoint", "/v1/completions"), ("status", "200")}))], 1)
        scopes = {dict(labels).get("scope") for name, labels in m if name == "pthrun_allocated_bytes"}
        self.assertTrue({"weights", "kv_cache", "activations", "all"} <= scopes, scopes)
        self.assertEqual(m[("pthrun_slots_total", frozenset())], 4)

    # --- completions with the openai client ---------------------------------------------

    def test_openai_completion_and_stream_agree(self):
        client = self.client()
        plain = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0)
        self.assertEqual(plain.object, "text_completion")
        self.assertTrue(plain.id.startswith("cmpl-"))
        self.assertEqual(plain.model, "tiny")
        self.assertEqual(plain.choices[0].finish_reason, "length")
        self.assertEqual(plain.usage.prompt_tokens, 4)
        self.assertEqual(plain.usage.completion_tokens, 12)
        self.assertEqual(plain.usage.total_tokens, 16)
        chunks = list(client.completions.create(model="tiny", prompt=PROMPT, max_tokens=12, temperature=0, stream=True,
                                                stream_options={"include_usage": True}))
        text = "".join(c.choices[0].text for c in chunks if c.choices)
        self.assertEqual(text, plain.choices[0].text)
        self.assertGreater(len([c for c in chunks if c.choices]), 1)  # it really streamed
        self.assertEqual([c.choices[0].finish_reason for c in chunks if c.choices][-1], "length")
        self.assertEqual(chunks[-1].usage.completion_tokens, 12)
        # The continuation is the model's: tokens of prompt + text re-encode to 4 + at most 12.
        ids = self.server.json("POST", "/tokenize", {"content": PROMPT + text})[1]["tokens"]
        self.assertLessEqual(len(ids), 16)

    def test_openai_seeded_choices_logprobs_echo_stop(self):
        client = self.client()
        args = dict(model="tiny", prompt=PROMPT, max_tokens=10, temperature=0.9, top_k=40, seed=123, n=3)
        a = client.completions.create(**{k: v for k, v in args.items() if k != "top_k"}, extra_body={"top_k": 40})
        b = client.completions.create(**{k: v for k, v in args.items() if k != "top_k"}, extra_body={"top_k": 40})
        self.assertEqual([c.index for c in a.choices], [0, 1, 2])
        self.assertEqual([c.text for c in a.choices], [c.text for c in b.choices])
        self.assertEqual(a.usage.completion_tokens, 30)
        # Choice j of n is what a request with that seed gives for its own choice j: n = 1 is choice 0.
        single = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=10, temperature=0.9, seed=123,
                                           extra_body={"top_k": 40})
        self.assertEqual(single.choices[0].text, a.choices[0].text)

        lp = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
        logprobs = lp.choices[0].logprobs
        self.assertEqual(len(logprobs.tokens), 6)
        self.assertEqual("".join(logprobs.tokens), lp.choices[0].text)
        for chosen, value, top in zip(logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs):
            self.assertEqual(len(top), 3)
            self.assertLessEqual(value, 0)
            self.assertAlmostEqual(value, max(top.values()), places=5)  # greedy takes the most likely
        self.assertEqual(logprobs.text_offset[0], 0)

        echo = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, temperature=0, echo=True)
        greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=5, temperature=0)
        self.assertEqual(echo.choices[0].text, PROMPT + greedy.choices[0].text)

        full = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=20, temperature=0).choices[0].text
        stop = full[6:9]
        self.assertTrue(stop)
        cut = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=20, temperature=0, stop=[stop, "\0never"])
        self.assertEqual(cut.choices[0].text, full[:full.find(stop)])
        self.assertEqual(cut.choices[0].finish_reason, "stop")
        streamed = "".join(c.choices[0].text for c in client.completions.create(
            model="tiny", prompt=PROMPT, max_tokens=20, temperature=0, stop=stop, stream=True))
        self.assertEqual(streamed, full[:full.find(stop)])

    def test_openai_models_retrieve(self):
        client = self.client()
        self.assertEqual(client.models.retrieve("tiny").id, "tiny")
        with self.assertRaises(openai.NotFoundError):
            client.models.retrieve("no-such-model")

    def test_openai_refusals_are_400_naming_the_parameter(self):
        client = self.client()
        for kwargs, param in [(dict(best_of=3), "best_of"), (dict(presence_penalty=0.5), "presence_penalty"),
                              (dict(max_tokens=300), "max_tokens"), (dict(n=9), "n"), (dict(logprobs=7), "logprobs")]:
            with self.assertRaises(openai.BadRequestError) as caught:
                client.completions.create(model="tiny", prompt=PROMPT, **{"max_tokens": 4, **kwargs})
            self.assertEqual(caught.exception.body["param"], param)

    def test_prompt_forms(self):
        ids = self.server.json("POST", "/tokenize", {"content": PROMPT})[1]["tokens"]
        text = completion(self.server, prompt=PROMPT, max_tokens=5, temperature=0)["choices"][0]["text"]
        self.assertEqual(completion(self.server, prompt=ids, max_tokens=5, temperature=0)["choices"][0]["text"], text)
        many = completion(self.server, prompt=[PROMPT, ids, "Hello"], max_tokens=5, temperature=0, n=2)
        self.assertEqual([c["index"] for c in many["choices"]], list(range(6)))
        self.assertEqual([c["text"] for c in many["choices"][:4]], [text] * 4)
        self.assertEqual(many["usage"]["prompt_tokens"], 2 * len(ids) + 1)
        # "" starts from <|endoftext|>, as OpenAI's models do.
        self.assertEqual(completion(self.server, prompt="", max_tokens=3)["usage"]["prompt_tokens"], 1)
        self.assertEqual(completion(self.server, prompt=PROMPT, max_tokens=0)["choices"][0]["finish_reason"], "length")

    # --- curl ---------------------------------------------------------------------------------

    def test_curl(self):
        url = f"http://{HOST}:{self.server.port}/v1/completions"
        body = json.dumps({"prompt": PROMPT, "max_tokens": 8, "temperature": 0})
        plain = subprocess.run(["curl", "-sS", "--max-time", "60", url, "-H", "Content-Type: application/json",
                                "-d", body], capture_output=True, text=True, timeout=90, check=True)
        text = json.loads(plain.stdout)["choices"][0]["text"]
        streamed = subprocess.run(["curl", "-sSN", "--max-time", "60", url, "-H", "Content-Type: application/json",
                                   "-d", body[:-1] + ', "stream": true}'], capture_output=True, timeout=90, check=True)
        events = sse_events(streamed.stdout)
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual("".join(json.loads(e)["choices"][0]["text"] for e in events[:-1]), text)

    # --- concurrency --------------------------------------------------------------------------

    def test_32_concurrent_requests_equal_their_sequential_results(self):
        words = "the quick brown fox jumps over a lazy dog while seven wizards quietly brew potions".split()
        requests = []
        for i in range(32):
            body = {"prompt": " ".join(words[: 1 + (i * 5) % len(words)]) * (1 + i % 3), "max_tokens": 3 + (i * 7) % 22}
            body.update({"temperature": 0} if i % 2 == 0 else {"temperature": 0.8, "top_p": 0.9, "seed": i})
            if i % 5 == 0:
                body["stream"] = True
            requests.append(body)

        def run(body):
            status, _, data = self.server.request("POST", "/v1/completions", body, timeout=300)
            self.assertEqual(status, 200, data)
            if body.get("stream"):
                events = sse_events(data)
                self.assertEqual(events[-1], "[DONE]")
                return "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1])
            return json.loads(data)["choices"][0]["text"]

        sequential = [run(body) for body in requests]
        with ThreadPoolExecutor(32) as pool:
            concurrent = list(pool.map(run, requests))
        self.assertEqual(concurrent, sequential)
        self.assert_idle_and_baseline()

    def test_disconnects_mid_stream_free_their_slots(self):
        generated_before = self.server.metric("pthrun_generated_tokens_total")
        for i in range(8):
            if i % 2 == 0:  # streaming: gone after the first event
                open_stream(self.server.port, {"prompt": PROMPT, "max_tokens": 240, "temperature": 0}).close()
                continue
            body = json.dumps({"prompt": PROMPT, "max_tokens": 240, "temperature": 0}).encode()
            with socket.create_connection((HOST, self.server.port), timeout=30) as s:  # gone at once
                s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        # Each slot is freed within steps of its client leaving, long before 240 tokens each.
        self.assert_idle_and_baseline()
        generated = self.server.metric("pthrun_generated_tokens_total") - generated_before
        self.assertLess(generated, 8 * 240 / 2)
        self.assertEqual(completion(self.server, prompt=PROMPT, max_tokens=3)["usage"]["completion_tokens"], 3)

    # --- hostile input --------------------------------------------------------------------------

    def test_200_malformed_or_hostile_requests_get_4xx_and_the_server_stays_up(self):
        deep = b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        bodies = [
            b"", b"{", b"[1, 2]", b"null", b'"text"', b"{'prompt': 'single quotes'}", b'{"prompt": "a",}',
            b'{"prompt": "a"} trailing', b'{"prompt": "\xc3\x28"}', b'{"prompt": "\xff\xfe"}',
            b'{"prompt": "\xed\xa0\x80"}', deep,
            b'{"prompt": "a", "max_tokens": 1e308}', b'{"prompt": "a", "max_tokens": 1e999}',
            b'{"prompt": "a", "max_tokens": 123456789012345678901234567890}', b'{"prompt": "a", "max_tokens": -1}',
            b'{"prompt": "a", "max_tokens": -9223372036854775808}', b'{"prompt": "a", "max_tokens": 100000}',
            b'{"prompt": "a", "max_tokens": 2.5}', b'{"prompt": "a", "max_tokens": "16"}', b'{"prompt": "a", "n": 0}',
            b'{"prompt": "a", "n": 1000000}', b'{"prompt": "a", "temperature": -1}', b'{"prompt": "a", "temperature": 1e300}',
            b'{"prompt": "a", "top_p": 2}', b'{"prompt": "a", "top_k": -3}', b'{"prompt": "a", "logprobs": 100}',
            b'{"prompt": "a", "seed": "x"}', b'{"prompt": "a", "stop": [1]}', b'{"prompt": "a", "stop": ["a","b","c","d","e"]}',
            b'{"prompt": "a", "stream": 1}', b'{"prompt": "a", "echo": "no"}', b'{"prompt": "a", "best_of": 5}',
            b'{"prompt": "a", "logit_bias": {"1": 100}}', b'{"prompt": "a", "suffix": "s"}', b'{"prompt": "a", "bogus": 1}',
            b'{"prompt": [50257]}', b'{"prompt": [-1]}', b'{"prompt": [[1], [2, "x"]]}', b'{"prompt": []}', b'{"prompt": {}}',
            b'{"prompt": true}', b'{"max_tokens": 5}', b'{"prompt": "' + b"word " * 400 + b'", "max_tokens": 10}',
            b'{"prompt": "a", "stream_options": {"include_usage": true}}',
        ]
        cases = [("POST", "/v1/completions", body, None) for body in bodies]
        cases += [("POST", "/tokenize", b'{"content": 5}', None), ("POST", "/tokenize", b"{}", None),
                  ("POST", "/detokenize", b'{"tokens": [1, 99999]}', None), ("POST", "/detokenize", b'{"tokens": "1"}', None),
                  ("GET", "/v1/completions", None, 405), ("DELETE", "/v1/completions", None, 405),
                  ("PUT", "/health", b"{}", 405), ("POST", "/v1/models", b"{}", 405), ("GET", "/v1/chat/completions", None, 404),
                  ("GET", "/../../etc/passwd", None, 404), ("GET", "/" + "x" * 3000, None, 404),
                  ("POST", "/v1/completions", b'{"prompt": "' + b"a" * (1 << 20) + b'"}', 413)]
        statuses = []
        for i in range(200):
            method, path, body, expected = cases[i % len(cases)]
            status, headers, data = self.server.request(method, path, body, {"Content-Type": "application/json"}, timeout=60)
            statuses.append(status)
            self.assertTrue(400 <= status < 500, (method, path, body[:80] if body else body, status, data[:200]))
            if expected:
                self.assertEqual(status, expected, (method, path))
            error = json.loads(data)["error"]
            self.assertTrue(error["message"] and error["type"] == "invalid_request_error", error)
        self.assertEqual(self.server.json("GET", "/health")[0], 200)

        # Raw protocol abuse: garbage, a request line too long, a slow client; none stops the server.
        def raw(payload, pause=0.0):
            with socket.create_connection((HOST, self.server.port), timeout=30) as s:
                s.sendall(payload)
                if pause:
                    time.sleep(pause)
                try:
                    return s.recv(4096)
                except OSError:
                    return b""
        self.assertIn(b" 400 ", raw(b"HELLO\r\n\r\n"))
        self.assertIn(b" 414 ", raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"))
        slow = [threading.Thread(target=raw, args=(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{", 7))
                for _ in range(3)]
        for t in slow:
            t.start()
        self.assertEqual(completion(self.server, prompt=PROMPT, max_tokens=2)["usage"]["completion_tokens"], 2)
        for t in slow:
            t.join(30)
        self.assertEqual(self.server.json("GET", "/health")[0], 200)
        self.assert_idle_and_baseline()


class PromptScoringTest(unittest.TestCase):
    """echo with logprobs scores the prompt, as evaluation harnesses (lm-evaluation-harness's
    loglikelihood) ask an OpenAI completions server to: checked against the sliding-window
    perplexity that transformers' own loop computed for tests/fixtures/perplexity/."""

    FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "perplexity")

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(cls.FIXTURE, "reference.json")) as f:
            cls.reference = json.load(f)
        cls.server = Server(os.path.join(cls.FIXTURE, cls.reference["weights"]), "--heads", str(cls.reference["heads"]),
                            "--slots", "3")
        cls.baseline = cls.server.metric("pthrun_allocated_bytes", device="cpu", scope="all")

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        assert code == 0, (code, "".join(cls.server.log[-20:]))

    def test_mean_nll_of_independent_windows_is_transformers(self):
        ids = self.reference["ids"]
        cases = [c for c in self.reference["cases"] if c["stride"] == c["ctx"]]
        self.assertTrue(cases)
        for case in cases:
            # Windows that do not overlap: each scores every token but its first, as the loop did.
            windows = [ids[i:i + case["ctx"]] for i in range(0, len(ids), case["ctx"])]
            body = completion(self.server, prompt=windows, echo=True, logprobs=1, max_tokens=0)
            total, scored = 0.0, 0
            for window, choice in zip(windows, body["choices"]):
                lp = choice["logprobs"]
                self.assertEqual(len(lp["tokens"]), len(window))
                self.assertIsNone(lp["token_logprobs"][0])
                self.assertIsNone(lp["top_logprobs"][0])
                self.assertEqual("".join(lp["tokens"]), choice["text"])
                self.assertEqual(choice["finish_reason"], "length")
                total += sum(lp["token_logprobs"][1:])
                scored += len(window) - 1
            self.assertEqual(scored, case["scored_tokens"])
            self.assertEqual(body["usage"]["completion_tokens"], 0)
            self.assertLess(abs(-total / scored - case["mean_nll"]), 1e-4 * case["mean_nll"], case)
        self.assertEqual(self.server.metric("pthrun_allocated_bytes", device="cpu", scope="all"), self.baseline)

    def test_echoed_scores_come_first_and_leave_the_completion_as_it_was(self):
        prompt = "Every effort moves you"
        plain = completion(self.server, prompt=prompt, max_tokens=3, temperature=0, logprobs=2)["choices"][0]
        echo = completion(self.server, prompt=prompt, max_tokens=3, temperature=0, logprobs=2, echo=True)["choices"][0]
        lp, generated = echo["logprobs"], plain["logprobs"]
        self.assertEqual(echo["text"], prompt + plain["text"])
        prompt_tokens = len(lp["tokens"]) - 3
        self.assertEqual("".join(lp["tokens"][:prompt_tokens]), prompt)
        self.assertEqual(lp["tokens"][prompt_tokens:], generated["tokens"])
        self.assertEqual(lp["token_logprobs"][prompt_tokens:], generated["token_logprobs"])
        self.assertEqual(lp["top_logprobs"][prompt_tokens:], generated["top_logprobs"])
        self.assertEqual(lp["text_offset"][0], 0)
        self.assertEqual(lp["text_offset"][prompt_tokens:], [len(prompt) + o for o in generated["text_offset"]])
        # Streamed: the echoed prompt goes out first, with its scores, then the generated chunks.
        status, _, data = self.server.request("POST", "/v1/completions", dict(
            prompt=prompt, max_tokens=3, temperature=0, logprobs=2, echo=True, stream=True))
        self.assertEqual(status, 200, data)
        events = sse_events(data)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e)["choices"][0] for e in events[:-1]]
        self.assertEqual(chunks[0]["text"], prompt)
        self.assertEqual(chunks[0]["logprobs"]["token_logprobs"], lp["token_logprobs"][:prompt_tokens])
        self.assertEqual("".join(c["text"] for c in chunks), echo["text"])
        self.assertEqual(sum((c["logprobs"]["token_logprobs"] for c in chunks), []), lp["token_logprobs"])


class ServeLimitsTest(unittest.TestCase):
    """Servers of their own: the API key, a full queue, shutdown."""

    def test_api_key(self):
        for args, env in [(("--api-key", "s3cret"), None), ((), {"PTHRUN_API_KEY": "s3cret"})]:
            with Server(test_model(), *args, env=env) as server:
                self.assertEqual(server.request("GET", "/health")[0], 200)
                for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer s3cret0"},
                                {"Authorization": "s3cret"}]:
                    for method, path in [("GET", "/v1/models"), ("GET", "/metrics"), ("POST", "/v1/completions"),
                                         ("GET", "/nowhere"), ("POST", "/tokenize")]:
                        status, _, data = server.request(method, path, {"prompt": "a"}, headers)
                        self.assertEqual(status, 401, (method, path, headers))
                        self.assertEqual(json.loads(data)["error"]["code"], "invalid_api_key")
                good = {"Authorization": "Bearer s3cret"}
                self.assertEqual(server.request("GET", "/v1/models", headers=good)[0], 200)
                # The page: 401 without the key; the header or ?key= opens it.
                self.assertEqual(server.request("GET", "/")[0], 401)
                self.assertEqual(server.request("GET", "/?key=wrong")[0], 401)
                self.assertEqual(server.request("GET", "/", headers=good)[0], 200)
                self.assertEqual(server.request("GET", "/?key=s3cret")[0], 200)
                self.assertFalse(any("s3cret" in line for line in server.log))  # the log shows no query string
                self.assertEqual(server.request("GET", "/nowhere", headers=good)[0], 404)
                if openai is not None:
                    client = openai.OpenAI(base_url=f"http://{HOST}:{server.port}/v1", api_key="s3cret", max_retries=0)
                    self.assertEqual(client.completions.create(model="m", prompt="a", max_tokens=2).usage.completion_tokens, 2)
                    with self.assertRaises(openai.AuthenticationError):
                        openai.OpenAI(base_url=f"http://{HOST}:{server.port}/v1", api_key="nope",
                                      max_retries=0).completions.create(model="m", prompt="a", max_tokens=2)

    def test_full_queue_is_503_with_retry_after(self):
        with Server(test_model(), "--slots", "1", "--max-queue", "1") as server:
            hog = open_stream(server.port, {"prompt": PROMPT, "max_tokens": 250})
            waiting = ThreadPoolExecutor(1).submit(server.json, "POST", "/v1/completions", {"prompt": "a", "max_tokens": 2})
            self.assertTrue(wait_for(lambda: server.metric("pthrun_queue_depth") == 1))
            status, headers, data = server.request("POST", "/v1/completions", {"prompt": "b", "max_tokens": 2})
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("Retry-After"), "1")
            self.assertEqual(json.loads(data)["error"]["type"], "server_error")
            hog.close()  # the hog's slot goes to the waiting request
            self.assertEqual(waiting.result(60)[0], 200)

    def test_sigterm_lets_running_requests_finish_then_exits_0(self):
        server = Server(test_model(), "--slots", "2")
        result = {}

        def stream():
            result["status"], _, result["data"] = server.request(
                "POST", "/v1/completions", {"prompt": PROMPT, "max_tokens": 120, "temperature": 0, "stream": True})
        t = threading.Thread(target=stream)
        t.start()
        self.assertTrue(wait_for(lambda: server.metric("pthrun_slots_active") == 1))
        server.proc.send_signal(signal.SIGTERM)
        t.join(120)
        self.assertEqual(server.proc.wait(60), 0)
        events = sse_events(result["data"])
        self.assertEqual(events[-1], "[DONE]")
        self.assertEqual(json.loads(events[-2])["choices"][0]["finish_reason"], "length")
        with self.assertRaises(OSError):
            socket.create_connection((HOST, server.port), timeout=5).close()
        self.assertTrue(any("stopped" in line for line in server.log))

    def test_shutdown_deadline_cuts_long_requests(self):
        server = Server(test_model(), "--shutdown-timeout", "0.5")
        with open_stream(server.port, {"prompt": PROMPT, "max_tokens": 250}):
            started = time.time()
            server.proc.send_signal(signal.SIGINT)
            self.assertEqual(server.proc.wait(60), 0)
            self.assertLess(time.time() - started, 15)

    def test_logs_one_line_per_request(self):
        with Server(test_model()) as server:
            completion(server, prompt=PROMPT, max_tokens=3)
            server.request("GET", "/nowhere")
        lines = [l for l in server.log if l.startswith(("POST ", "GET "))]
        self.assertTrue(any(l.startswith("POST /v1/completions 200 prompt=4 generated=3 ttft=") for l in lines), lines)
        self.assertTrue(any(l.startswith("GET /nowhere 404 ") for l in lines), lines)


if __name__ == "__main__":
    unittest.main(verbosity=2)
