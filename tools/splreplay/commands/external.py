"""Python search commands declared in the app's commands.conf, run through protocol v2."""
from ..errors import Unsupported
from ..conf import parse_bool
from ..protocol import run_chunked
from . import Command


class ExternalCommand(Command):
    """Built by the pipeline for names found in commands.conf."""

    def __init__(self, name, stanza, args, ctx, search_text):
        self.name = name
        self.stanza = stanza
        self.ctx = ctx
        self.search_text = search_text
        if not parse_bool(stanza.get("chunked"), False):
            raise Unsupported("command %s uses search command protocol v1 (chunked is not "
                              "true in commands.conf); splreplay runs only protocol v2" % name,
                              args.toks[0].pos)
        if (stanza.get("type") or "python").lower() != "python":
            raise Unsupported("command %s: only Python commands are implemented" % name)
        self.args = []
        self.raw_args = []
        while not args.at_end():
            t = args.advance()
            if t.kind == "word" and args.tok.is_op("=") and args.peek().kind in ("word", "str"):
                args.advance()
                v = args.advance()
                self.args.append("%s=%s" % (t.value, v.value))
                self.raw_args.append(args.text[t.pos - args.base:v.end - args.base])
            elif t.kind in ("word", "str"):
                self.args.append(t.value)
                self.raw_args.append(args.text[t.pos - args.base:t.end - args.base])
            else:
                raise Unsupported("command %s: argument %r is not supported" % (name, t.value),
                                  t.pos)
        self.generating = parse_bool(stanza.get("generating"), False)

    def run(self, rows):
        out, _generated = run_chunked(self.ctx.app, self.name, self.stanza, self.args,
                                      self.raw_args, rows or [], self.ctx, self.search_text)
        return out
