"""Cached template fragments: `{% cache "name", key, … %}…{% endcache %}` renders its body once per process for
each combination of keys and then repeats that output.

Only for output that depends on nothing but its keys: the chrome of a page — links to static files and to pages
(their URLs depend on the script root), the interface's strings (the locale), which menu item is active (the
endpoint). Never a CSRF token, a flashed message, a person's data or anything else of one user: those stay outside
the fragment, rendered on every request. The template's name is part of every key, so two templates never share a
fragment. At most MAX_FRAGMENTS outputs are kept per process; past that the cache starts over (a key such as the
page's path can take many values, and a visitor can make up more). With template auto-reload on (development) the
cache is off, so an edited template shows at once.

Why: the member cabinet's layout (head, menu, footer) cost about as much as everything else on its page together
(some forty calls into url_for, gettext, Bootstrap-Flask's helpers each time); see bench/RESULTS.md.
"""

from __future__ import annotations

from jinja2 import nodes
from jinja2.ext import Extension

MAX_FRAGMENTS = 2048


class FragmentCache(Extension):
    tags = {"cache"}

    def __init__(self, environment):
        super().__init__(environment)
        environment.extend(fragment_cache={})

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        keys = [nodes.Const(parser.name or ""), parser.parse_expression()]
        while parser.stream.skip_if("comma"):
            keys.append(parser.parse_expression())
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_fragment", [nodes.Tuple(keys, "load")]), [], [], body) \
            .set_lineno(lineno)

    def _fragment(self, key: tuple, caller):
        env = self.environment
        if env.auto_reload:
            return caller()
        cache = env.fragment_cache
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable key: render, keep nothing
            return caller()
        out = caller()
        if len(cache) >= MAX_FRAGMENTS:
            cache.clear()
        cache[key] = out
        return out
