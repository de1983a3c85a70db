"""Turning a search string into commands and running them over events."""
from .commands import COMMANDS, Args
from .commands.basic import Search
from .commands.external import ExternalCommand
from .errors import ReplayError, SplError, Unsupported
from .lexer import split_pipeline, tokenize_search


class Pipeline:
    def __init__(self, text, ctx):
        """``text``: the search after macro expansion."""
        self.text = text
        self.ctx = ctx
        self.commands = []
        self.starts_with_events = True
        try:
            self._build()
        except SplError as exc:
            if exc.text is None:
                raise type(exc)(exc.message, exc.pos, text) from None
            raise

    def _build(self):
        text = self.text
        segments = split_pipeline(text)
        leading_pipe = text.lstrip().startswith("|")
        for idx, (seg, off) in enumerate(segments):
            toks = tokenize_search(seg, off)
            for t in toks:
                if t.is_op("["):
                    raise Unsupported("subsearches ([...]) are not implemented by splreplay",
                                      t.pos)
            if idx == 0:
                if leading_pipe:
                    if seg.strip():
                        raise SplError("unexpected text before the first '|'", off)
                    self.starts_with_events = False
                    continue
                if not seg.strip():
                    raise SplError("empty search", off)
                args = Args("search", seg, off, text)
                if args.tok.kind == "word" and args.tok.value == "search":
                    args.advance()
                self.commands.append(Search(args, self.ctx, first=True))
                continue
            first_tok = toks[0]
            if first_tok.kind == "eof":
                raise SplError("empty command between pipes", off)
            if first_tok.kind != "word":
                raise SplError("expected a command name, got %r" % first_tok.value,
                               first_tok.pos)
            name = first_tok.value
            rel = first_tok.end - off
            args = Args(name, seg[rel:], off + rel, text)
            is_first = not self.commands and not self.starts_with_events
            stanza = self.ctx.app.custom_command(name)
            cls = COMMANDS.get(name)
            if stanza is not None:
                cmd = ExternalCommand(name, stanza, args, self.ctx, text)
            elif cls is None:
                raise Unsupported("command '%s' is not implemented by splreplay" % name,
                                  first_tok.pos)
            elif cls is Search:
                cmd = Search(args, self.ctx, first=False)
            else:
                cmd = cls(args, self.ctx)
            if is_first and not cmd.generating and stanza is None:
                raise SplError("a search that starts with '|' must start with a generating "
                               "command (inputlookup, makeresults, ...), not %s" % name,
                               first_tok.pos)
            if not is_first and cmd.generating and stanza is None:
                raise SplError("%s must be the first command of the search" % name,
                               first_tok.pos)
            cmd.pos = first_tok.pos
            self.commands.append(cmd)

    def set_now(self, now):
        """The same search for another run: ``now()`` and time modifiers resolve against
        ``now`` (every command reads the context's ``now`` when it runs, except the ones
        that resolve it once, which have ``set_now``)."""
        self.ctx.now = now
        for cmd in self.commands:
            if hasattr(cmd, "set_now"):
                cmd.set_now(now)

    def run(self, events):
        cmds = self.commands
        if self.starts_with_events:
            rows = [dict(r) for r in cmds[0].run(events)]
            rest = cmds[1:]
        else:
            rows = []
            rest = cmds
        for cmd in rest:
            try:
                rows = cmd.run(rows)
            except ReplayError as exc:
                if isinstance(exc, SplError) and exc.pos is None:
                    raise type(exc)("%s: %s" % (cmd.name, exc.message), cmd.pos,
                                    self.text) from None
                raise
        return rows
