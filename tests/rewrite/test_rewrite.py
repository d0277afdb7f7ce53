"""Prompt rewrite: the offline rewriter (Chinese and English), the local-LM backend and the OpenAI client
against a real HTTP server serving a tiny random causal LM, and the fallback to the typed prompt."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from vitascope.errors import InvalidOptionError
from vitascope.rewrite import make_backend, rewrite_prompt
from vitascope.rewrite.backends import LocalLMBackend, OpenAIBackend, chat_input_ids
from vitascope.rewrite.prompts import SYSTEM_PROMPTS, messages, structured_from_reply
from vitascope.synthetic.captions import STRUCTURED_KEYS, parse_canonical

OFFLINE = [
    ("一个红色的圆向右移动", "a red circle moving right on a black background"),
    ("红色圆形往左走，白色背景", "a red circle moving left on a white background"),
    ("一个蓝色的方块向上移动，背景是灰色，镜头向左平移", "a blue square moving up on a gray background, camera panning left"),
    ("向下移动的黄色三角形和静止的绿色圆，棋盘格背景", "a yellow triangle moving down and a green circle staying still on a checkered background"),
    ("白色正方形静止不动，镜头推近", "a white square staying still on a black background, camera zooming in"),
    ("A red ball rolling to the right", "a red circle moving right on a black background"),
    ("green triangle falling on a dotted backdrop, camera pans to the right", "a green triangle moving down on a dotted background, camera panning right"),
    ("a blue box rising while a white disc stays still, static camera", "a blue square moving up and a white circle staying still on a black background"),
    ("a red circle moving right on a black background", "a red circle moving right on a black background"),
]  # fmt: skip


@pytest.mark.parametrize("prompt,expected", OFFLINE)
def test_offline_rewriter(prompt, expected):
    result = rewrite_prompt(prompt, "normal", "offline")
    assert result.prompt == expected and result.rewritten and result.original == prompt
    parse_canonical(result.prompt)  # the demo's own parser accepts it


def test_offline_keeps_new_colours_and_modes():
    assert (
        rewrite_prompt("一个紫色的三角形向左移动").prompt
        == "a purple triangle moving left on a black background"
    )
    assert rewrite_prompt("粉红色的圆").prompt == "a pink circle staying still on a black background"
    master = rewrite_prompt("黄色方块向下", "master").prompt
    assert master.startswith("A yellow square moving down on a black background.")
    assert "Lighting:" in master and "Shot type:" in master and "Camera movement: Static shot." in master
    result = rewrite_prompt("a green circle moving up, camera zooming out", "structured")
    assert list(result.structured) == list(STRUCTURED_KEYS)
    assert (
        result.structured["Camera Movement"] == "Zoom out" and "green" in result.structured["Metadata Tags"]
    )
    assert result.prompt.startswith("A green circle moving up on a black background, camera zooming out.")


def test_fallback_keeps_the_prompt_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="vitascope.rewrite"):
        result = rewrite_prompt("a dog running on the beach", "normal", "offline")
    assert (
        result.prompt == "a dog running on the beach" and not result.rewritten and "no shape" in result.error
    )
    assert any("keeping the prompt as typed" in r.message for r in caplog.records)
    dead = OpenAIBackend("http://127.0.0.1:9/v1", timeout=2.0)  # discard port: nothing listens
    result = rewrite_prompt("一个红色的圆", "normal", dead)
    assert result.prompt == "一个红色的圆" and not result.rewritten and "127.0.0.1:9" in result.error
    with pytest.raises(InvalidOptionError):
        make_backend("gpt4")
    with pytest.raises(InvalidOptionError):
        rewrite_prompt("x", "poetic")


# ---- a tiny random causal LM, served over the OpenAI chat API ----------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    from vitascope.models.text.tiny import tiny_llama_tokenizer

    folder = tmp_path_factory.mktemp("tiny_lm")
    tok = tiny_llama_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, eos_token_id=None, bos_token_id=None,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


class _ChatServer:
    """/v1/chat/completions in the OpenAI wire format, answered by a transformers model (greedy)."""

    def __init__(self, folder, max_tokens=16):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder).eval()
        self.max_tokens, self.requests, self.replies = max_tokens, [], []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                text = server.answer(body["messages"], min(body.get("max_tokens", 16), server.max_tokens))
                server.replies.append(text)
                out = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                  "choices": [{"index": 0, "finish_reason": "length",
                                               "message": {"role": "assistant", "content": text}}]}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @torch.no_grad()
    def answer(self, msgs, max_tokens):
        ids = self.tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        out = self.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                  do_sample=False, pad_token_id=self.tok.pad_token_id)  # fmt: skip
        return self.tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def server(tiny_lm):
    s = _ChatServer(tiny_lm)
    yield s
    s.httpd.shutdown()


def test_openai_client_against_a_real_server(server):
    backend = make_backend(f"openai:{server.url}", api_model="tiny-llama", api_key="sekret")
    result = rewrite_prompt("一个红色的圆向右移动", "master", backend)
    req = server.requests[-1]
    assert (
        req["path"] == "/v1/chat/completions"
        and req["auth"] == "Bearer sekret"
        and req["model"] == "tiny-llama"
    )
    assert req["messages"] == messages("一个红色的圆向右移动", "master")
    assert req["messages"][0]["content"] == SYSTEM_PROMPTS["master"]
    assert server.replies[-1].strip(), "the tiny model said nothing; pick another seed"
    assert result.rewritten and result.prompt == server.replies[-1].strip() and result.backend == "openai"
    # a random model writes no caption JSON: structured mode falls back to the typed prompt
    bad = rewrite_prompt("一个红色的圆", "structured", backend)
    assert not bad.rewritten and bad.prompt == "一个红色的圆" and "JSON" in bad.error


def test_local_backend_matches_the_served_model(tiny_lm, server):
    local = LocalLMBackend(str(tiny_lm), max_new_tokens=server.max_tokens)
    result = rewrite_prompt("a blue square moving up", "normal", local)
    expected = server.answer(messages("a blue square moving up", "normal"), server.max_tokens).strip()
    assert result.rewritten and result.prompt == expected and result.backend == "local"
    assert chat_input_ids(local._tokenizer, messages("x", "normal")).shape[0] == 1
    missing = rewrite_prompt("x", "normal", LocalLMBackend(str(tiny_lm / "nope")))
    assert not missing.rewritten and "config.json" in missing.error


def test_structured_reply_parsing():
    reply = '<think>plan</think>```json\n{"Short Description": "A red circle.", "Metadata Tags": ["red"], "extra": 1}\n```'
    from vitascope.rewrite.prompts import clean_reply

    assert structured_from_reply(clean_reply(reply)) == {
        "Short Description": "A red circle.",
        "Metadata Tags": ["red"],
    }
    with pytest.raises(ValueError):
        structured_from_reply("no json here")


def test_api_request_rewrites_the_prompt():
    from vitascope.serve.schemas import JobRequest

    req = JobRequest(prompt="一个红色的圆向右移动", rewrite="normal")
    assert req.prompt == "a red circle moving right on a black background"
    assert "rewrite" not in req.model_dump(exclude_none=True)  # the worker's options never see it
    assert req.to_options().prompt == req.prompt
    assert JobRequest(prompt="a dog", rewrite="master").prompt == "a dog"  # not understood: kept
