"""The workflow engine: interprets the workflow definitions in this package (plain data), fires transitions.

A definition names its states (title, description), its transitions (verb, title, source states, destination,
roles allowed, guard names, effect names) and the attributes of the object that hold the state and its version.
One `transitions.Machine` per workflow (model-less, shared by every object) holds the moves; its (state, action)
→ state table, read once, validates each move. The engine adds what a portal needs around it:

- a permission first (the actor's role, and the object inside the actor's scope), then the guards — pure
  functions that answer None or a Russian message — so a refusal says why;
- an optimistic version check in the UPDATE itself, so of two people firing at once exactly one wins;
- a history row per transition (who, when, from, to, comment), written in the same transaction;
- effects, run in the same transaction after the state changes. A *row* effect only appends rows (a consent
  record): it returns them, and the engine writes them together with the history row.

On PostgreSQL a transition is one statement: the versioned UPDATE, the history INSERT and the row effects'
INSERTs as data-modifying CTEs that insert only if the UPDATE moved the row (so a lost race inserts nothing).
Elsewhere (SQLite) the same writes go as separate statements after the UPDATE's row count is checked.

Pages and jobs change workflow states only through `fire`; nothing else sets a state attribute.

This package depends on nothing of the portal above it (`import workflows` loads no `portal` module): the portal
tells the engine where its session and history table are (`configure`), binds each workflow to its model and
scope (`bind`), and each domain package registers the guards and effects its workflows name (`guard`, `effect`),
when the application is created (portal/flows.py). `check_registered` then fails at start-up, not at run time,
when a definition names a guard nobody registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import gettext
from sqlalchemy import bindparam, func, insert, literal_column, select, update
from transitions import Machine

SYSTEM = "system"  # the role of scheduled jobs


class InputProblem(str):
    """A refusal about what the user typed with the action (a missing protocol number, a date in the future).

    A plain `str` (so it reads like any guard's message) that also names the form field it belongs to, so the page
    can put it next to that field; `field` is "" when no single field is to blame.
    """

    field: str

    def __new__(cls, field: str, message: str):
        obj = super().__new__(cls, message)
        obj.field = field
        return obj


class WorkflowError(Exception):
    """A transition was refused; `message` is for the user (Russian), `status` the HTTP answer.

    409: the action is not allowed now (wrong state, role, scope, a condition of the object) — a page has nothing to
    correct. 422 (`is_input`): only what was typed is wrong; the page shows its form again, filled in, with
    `field_errors()` next to the fields.
    """

    def __init__(self, message: str, status: int = 409, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.problems = problems or []

    @property
    def is_input(self) -> bool:
        return self.status == 422

    def field_errors(self) -> dict[str, list[str]]:
        """The problems by form field ("" for the form as a whole)."""
        out: dict[str, list[str]] = {}
        for p in self.problems or [self.message]:
            out.setdefault(getattr(p, "field", ""), []).append(str(p))
        return out


class WorkflowConflict(WorkflowError):
    """Someone else changed the object first."""


# What a state means to the person looking at it; pages colour its badge by this alone (the `state_badge` macro,
# `.state-<meaning>` in portal.css), so the same colour says the same thing in every workflow.
MEANINGS = ("neutral", "waiting", "done", "refused")


@dataclass(frozen=True)
class State:
    name: str
    title: str
    description: str = ""
    meaning: str = "waiting"  # one of MEANINGS


@dataclass(frozen=True)
class Transition:
    name: str
    title: str
    source: tuple[str, ...]
    dest: str
    roles: frozenset[str]
    guards: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    description: str = ""
    needs_comment: bool = False


@dataclass
class Workflow:
    """A workflow definition plus its shared, model-less state machine."""

    name: str
    title: str
    state_attr: str
    version_attr: str
    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]
    description: str = ""
    model: type | None = None  # bound by the portal (`bind`): the mapped class whose rows carry the state
    object_type: str | None = None  # the model's table name, as history rows record it
    scope: Callable | None = None  # (actor, obj) -> bool: is the object inside the actor's scope
    machine: Machine = field(init=False, repr=False)
    moves: dict[tuple[str, str], str] = field(init=False, repr=False)

    def __post_init__(self):
        self.machine = Machine(
            model=None, states=list(self.states), initial=self.initial, auto_transitions=False,
            transitions=[{"trigger": t.name, "source": list(t.source), "dest": t.dest}
                         for t in self.transitions.values()],
        )
        # The machine's own table of (state, action) -> state, read once: asking it per call means attaching a
        # model (and generating its trigger methods) for every transition.
        self.moves = {(source, name): ts[0].dest for name, event in self.machine.events.items()
                      for source, ts in event.transitions.items() if ts}

    def state_of(self, obj) -> str:
        value = getattr(obj, self.state_attr)
        return getattr(value, "value", value)

    def state_title(self, obj) -> str:
        return self.states[self.state_of(obj)].title


_GUARDS: dict[str, Callable] = {}
_INPUT_GUARDS: set[str] = set()
_EFFECTS: dict[str, Callable] = {}
_ROW_EFFECTS: set[str] = set()


def guard(name: str, *, checks_input: bool = False):
    """Register a guard: fn(obj, actor, params) -> None if allowed, else a Russian message.

    A guard that `checks_input` validates what the user types with the action (a date, a tracking number);
    it runs when the transition fires, but does not hide the action's button.
    """
    def deco(fn):
        _GUARDS[name] = fn
        if checks_input:
            _INPUT_GUARDS.add(name)
        return fn
    return deco


def effect(name: str, *, rows: bool = False):
    """Register an effect: fn(obj, actor, params) run after the state changed, in the same transaction.

    A `rows` effect changes nothing itself: it returns [(table, {column: value})] to append, and the engine
    writes them in the transition's own statement (they exist exactly when the move happened).
    """
    def deco(fn):
        _EFFECTS[name] = fn
        if rows:
            _ROW_EFFECTS.add(name)
        return fn
    return deco


def build(definition: dict, model: type | None = None, scope: Callable | None = None) -> Workflow:
    """Turn a definition (plain data) into a Workflow; the model and scope may be given now or later by `bind`."""
    states = {name: State(name, s["title"], s.get("description", ""), s.get("meaning", "waiting"))
              for name, s in definition["states"].items()}
    for state in states.values():
        if state.meaning not in MEANINGS:
            raise ValueError(f"{definition['name']}: state {state.name!r} has meaning {state.meaning!r}, not one of {MEANINGS}")
    transitions = {}
    for t in definition["transitions"]:
        source = (t["source"],) if isinstance(t["source"], str) else tuple(t["source"])
        for s in (*source, t["dest"]):
            if s not in states:
                raise ValueError(f"{definition['name']}: unknown state {s!r} in transition {t['name']!r}")
        transitions[t["name"]] = Transition(
            name=t["name"], title=t["title"], source=source, dest=t["dest"], roles=frozenset(t["roles"]),
            guards=tuple(t.get("guards", ())), effects=tuple(t.get("effects", ())),
            description=t.get("description", ""), needs_comment=t.get("needs_comment", False))
    wf = Workflow(name=definition["name"], title=definition["title"], state_attr=definition["state_attr"],
                  version_attr=definition["version_attr"], initial=definition["initial"], states=states,
                  transitions=transitions, description=definition.get("description", ""))
    if model is not None:
        bind(wf, model, scope)
    return wf


def bind(wf: Workflow, model: type, scope: Callable | None = None) -> Workflow:
    """Tie a workflow to the mapped class that holds its state and to the actor's scope (done by the portal)."""
    wf.model = model
    wf.object_type = model.__tablename__
    wf.scope = scope
    return wf


@dataclass
class _Backend:
    session: Callable | None = None  # () -> the current SQLAlchemy session
    history: type | None = None  # the mapped class of the history table (columns as HISTORY_COLUMNS)
    # Called as listener(wf, obj, before, after) after every move, in the same transaction: the state is written by
    # a Core UPDATE, so ORM listeners (e.g. the portal's member counters) would not see it otherwise.
    move_listeners: tuple = ()


_BACKEND = _Backend()


def configure(*, session: Callable, history: type, move_listeners: tuple = ()) -> None:
    """Where the engine writes: a function giving the current session, and the history model (the portal's);
    `move_listeners` are told of every state move (see `_Backend`)."""
    _BACKEND.session = session
    _BACKEND.history = history
    _BACKEND.move_listeners = tuple(move_listeners)


def _session():
    if _BACKEND.session is None:
        raise RuntimeError("workflows.engine is not configured: the portal calls configure() when the app is created")
    return _BACKEND.session()


def _history_table():
    if _BACKEND.history is None:
        raise RuntimeError("workflows.engine is not configured: the portal calls configure() when the app is created")
    return _BACKEND.history.__table__


def _bound(wf: Workflow) -> Workflow:
    if wf.model is None:
        raise RuntimeError(f"workflow {wf.name!r} is not bound to a model: the portal binds it when the app is created")
    return wf


def check_registered(wf: Workflow) -> None:
    """Every guard and effect a definition names must exist and the workflow be bound (called once the domain
    packages registered theirs)."""
    _bound(wf)
    for t in wf.transitions.values():
        for g in t.guards:
            if g not in _GUARDS:
                raise ValueError(f"{wf.name}.{t.name}: guard {g!r} is not registered")
        for e in t.effects:
            if e not in _EFFECTS:
                raise ValueError(f"{wf.name}.{t.name}: effect {e!r} is not registered")


def _role(actor) -> str:
    if actor is None:
        return SYSTEM
    role = getattr(actor, "role", None)
    return getattr(role, "value", role) or ""


def problems(wf: Workflow, obj, action: str, actor, params: dict | None = None, *,
             with_input: bool = True) -> list[str]:
    """Why `actor` may not fire `action` on `obj` now (empty list: allowed). Permission first, then guards."""
    t = wf.transitions.get(action)
    if t is None:
        return [gettext("Такого действия нет.")]
    current = wf.state_of(obj)
    if current not in t.source:
        return [gettext("Действие «%(action)s» невозможно в состоянии «%(state)s».", action=gettext(t.title),
                         state=gettext(wf.states[current].title))]
    if _role(actor) not in t.roles:
        return [gettext("Действие «%(action)s» вам не разрешено.", action=gettext(t.title))]
    if actor is not None and wf.scope is not None and not wf.scope(actor, obj):
        return [gettext("Действие «%(action)s» вам не разрешено.", action=gettext(t.title))]
    found = []
    for name in t.guards:
        if not with_input and name in _INPUT_GUARDS:
            continue
        message = _GUARDS[name](obj, actor, params or {})
        if message:
            # An input guard's answer is about the form, whatever field it names (or none).
            found.append(InputProblem(getattr(message, "field", ""), message) if name in _INPUT_GUARDS else message)
    return found


def may(wf: Workflow, obj, action: str, actor, params: dict | None = None) -> bool:
    """Ask without firing; without params, the guards on typed input are not asked."""
    return not problems(wf, obj, action, actor, params, with_input=params is not None)


def available(wf: Workflow, obj, actor) -> list[Transition]:
    """Transitions whose buttons the actor should see now, in definition order."""
    return [t for t in wf.transitions.values() if may(wf, obj, t.name, actor)]


def withheld(wf: Workflow, obj, actor) -> list[tuple[Transition, list[str]]]:
    """Transitions the actor's role may fire from the object's state, but a condition of the object withholds now,
    each with the reasons (`may_<trigger>` answered with its why): a page says what is missing instead of showing
    an empty action bar."""
    if actor is not None and wf.scope is not None and not wf.scope(actor, obj):
        return []
    current = wf.state_of(obj)
    out = []
    for t in wf.transitions.values():
        if current not in t.source or _role(actor) not in t.roles:
            continue
        found = problems(wf, obj, t.name, actor, with_input=False)
        if found:
            out.append((t, found))
    return out


def check(wf: Workflow, obj, action: str, actor, params: dict | None = None, comment: str = "") -> None:
    """Raise the WorkflowError `fire` would raise before moving anything (nothing raised: it may fire).

    Only typed input wrong (an input guard, a missing reason): status 422, the page shows its form again with the
    messages by field. Anything about the object or the actor (state, role, scope, a condition): 409.
    """
    t = wf.transitions.get(action)
    found = problems(wf, obj, action, actor, params)
    if t is not None and t.needs_comment and not (comment or "").strip() and all(
            isinstance(p, InputProblem) for p in found):
        found.append(InputProblem("comment", gettext("Для действия «%(action)s» нужно указать причину.",
                                                      action=gettext(t.title))))
    if found:
        blocking = [p for p in found if not isinstance(p, InputProblem)]
        if blocking:
            raise WorkflowError(blocking[0], problems=found)
        raise WorkflowError(found[0], status=422, problems=found)


def fire(wf: Workflow, obj, action: str, actor, *, comment: str = "", params: dict | None = None) -> dict:
    """Fire a transition: check, move the state with a version check, record history, run effects. Caller commits.

    Raises WorkflowError (409) when the transition is not allowed, and WorkflowConflict (409) when someone else
    changed the object between reading and writing; nothing is changed in either case.
    """
    t = _bound(wf).transitions.get(action)
    check(wf, obj, action, actor, params, comment)
    before = wf.state_of(obj)
    after = wf.moves.get((before, action))
    if after is None:  # the definition and the checks above disagree: a bug, but never a silent move
        raise WorkflowError(gettext("Действие «%(action)s» невозможно сейчас.", action=gettext(t.title)))
    version = getattr(obj, wf.version_attr) or 0
    entry = {"workflow": wf.name, "object_type": wf.object_type, "object_id": obj.id, "action": action,
             "from_state": before, "to_state": after, "actor_id": getattr(actor, "id", None),
             "actor_login": getattr(actor, "login", "") or "", "comment": comment.strip()}
    effect_params = {**(params or {}), "comment": comment, "action": action, "from": before}
    # Row effects are asked before the UPDATE so their rows can ride in its statement; they only describe rows.
    rows = [row for name in t.effects if name in _ROW_EFFECTS for row in _EFFECTS[name](obj, actor, effect_params)]
    state_value = _typed(obj, wf, after)
    move = {"_id": obj.id, "_before": _typed(obj, wf, before), "_version": version, "_after": state_value,
            "_new_version": version + 1}
    session = _session()
    if session.get_bind().dialect.name == "postgresql":
        values = {**move, **{f"h_{k}": v for k, v in entry.items()}}
        for i, (_table, row) in enumerate(rows):
            values.update({f"r{i}_{k}": v for k, v in row.items()})
        shapes = tuple((table, tuple(row)) for table, row in rows)
        moved = session.execute(_one_statement(wf, shapes), values).scalar()
    else:
        moved = session.execute(_update_statement(wf), move).rowcount
        if moved == 1:
            session.execute(insert(_history_table()), entry)
            for table, row in rows:
                session.execute(insert(table), row)
    if moved != 1:
        session.rollback()
        raise WorkflowConflict(gettext("Это действие уже выполнил кто-то другой или объект изменился. Обновите страницу."))
    set_committed(obj, wf.state_attr, state_value)
    set_committed(obj, wf.version_attr, version + 1)
    for listener in _BACKEND.move_listeners:
        listener(wf, obj, before, after)
    for name in t.effects:
        if name not in _ROW_EFFECTS:
            _EFFECTS[name](obj, actor, effect_params)
    return entry


# Statements are built once per shape and executed with parameters: building Core constructs per call costs as
# much as the round trip.
_STATEMENTS: dict[tuple, object] = {}


def _cached(key: tuple, build_statement: Callable):
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build_statement()
    return stmt


def _update_statement(wf: Workflow):
    return _cached(("update", wf.name), lambda: _build_update(wf))


def _build_update(wf: Workflow):
    """The versioned UPDATE of one object's state (plain Core: the ORM's bulk-update machinery costs more)."""
    table = wf.model.__table__
    state_col, version_col = table.c[wf.state_attr], table.c[wf.version_attr]
    return (update(table)
            .where(table.c.id == bindparam("_id"), state_col == bindparam("_before", type_=state_col.type),
                   version_col == bindparam("_version"))
            .values({state_col: bindparam("_after", type_=state_col.type), version_col: bindparam("_new_version")}))


def _one_statement(wf: Workflow, shapes: tuple[tuple[object, tuple[str, ...]], ...]):
    return _cached(("one", wf.name, shapes), lambda: _build_one(wf, shapes))


def _build_one(wf: Workflow, shapes: tuple[tuple[object, tuple[str, ...]], ...]):
    """PostgreSQL: UPDATE … RETURNING as a CTE, and every INSERT selecting from it; the result is the rows moved."""
    moved = _build_update(wf).returning(wf.model.__table__.c.id).cte("moved")
    inserts = [(_history_table(), HISTORY_COLUMNS, "h_")]
    inserts += [(table, columns, f"r{i}_") for i, (table, columns) in enumerate(shapes)]
    ctes = []
    for n, (table, columns, prefix) in enumerate(inserts):
        source = select(*[bindparam(prefix + c, type_=table.c[c].type) for c in columns]).select_from(moved)
        ctes.append(insert(table).from_select(list(columns), source).returning(literal_column("1")).cte(f"w{n}"))
    return select(func.count()).select_from(moved).add_cte(*ctes)


HISTORY_COLUMNS = ("workflow", "object_type", "object_id", "action", "from_state", "to_state", "actor_id",
                   "actor_login", "comment")


def history(wf: Workflow, obj) -> list:
    """The object's fired transitions (history model instances), oldest first."""
    model = _BACKEND.history
    _history_table()
    return list(_session().scalars(select(model).where(
        model.object_type == _bound(wf).object_type, model.object_id == obj.id,
        model.workflow == wf.name).order_by(model.id)))


def _typed(obj, wf: Workflow, state: str):
    """The state as the column stores it (an enum member when the column is an enum)."""
    current = getattr(obj, wf.state_attr)
    enum_cls = type(current) if hasattr(current, "value") else None
    return enum_cls(state) if enum_cls else state


def set_committed(obj, attr: str, value) -> None:
    """Set an attribute the UPDATE already wrote, without making the ORM write it again."""
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(obj, attr, value)
