"""The workflow engine: interprets the workflow definitions in this package (plain data), fires transitions.

A definition names its states (title, description), its transitions (verb, title, source states, destination,
roles allowed, guard names, effect names) and the attributes of the object that hold the state and its version.
One `transitions.Machine` per workflow (model-less, shared by every object) validates each move; the engine adds
what a portal needs around it:

- a permission first (the actor's role, and the object inside the actor's scope), then the guards — pure
  functions that answer None or a Russian message — so a refusal says why;
- an optimistic version check in the UPDATE itself, so of two people firing at once exactly one wins;
- a history row per transition (who, when, from, to, comment), written in the same transaction;
- effects, run in the same transaction after the state changes.

Pages and jobs change workflow states only through `fire`; nothing else sets a state attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, insert, update
from sqlalchemy.orm import Mapped, mapped_column
from transitions import Machine, MachineError

from portal.extensions import db

SYSTEM = "system"  # the role of scheduled jobs


class WorkflowError(Exception):
    """A transition was refused; `message` is for the user (Russian), `status` the HTTP answer (409 or 404)."""

    def __init__(self, message: str, status: int = 409, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.problems = problems or []


class WorkflowConflict(WorkflowError):
    """Someone else changed the object first."""


@dataclass(frozen=True)
class State:
    name: str
    title: str
    description: str = ""


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
    model: type
    object_type: str
    state_attr: str
    version_attr: str
    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]
    description: str = ""
    scope: Callable | None = None  # (actor, obj) -> bool: is the object inside the actor's scope
    machine: Machine = field(init=False, repr=False)

    def __post_init__(self):
        self.machine = Machine(
            model=None, states=list(self.states), initial=self.initial, auto_transitions=False,
            transitions=[{"trigger": t.name, "source": list(t.source), "dest": t.dest}
                         for t in self.transitions.values()],
        )

    def state_of(self, obj) -> str:
        value = getattr(obj, self.state_attr)
        return getattr(value, "value", value)

    def state_title(self, obj) -> str:
        return self.states[self.state_of(obj)].title


_GUARDS: dict[str, Callable] = {}
_INPUT_GUARDS: set[str] = set()
_EFFECTS: dict[str, Callable] = {}


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


def effect(name: str):
    """Register an effect: fn(obj, actor, params) run after the state changed, in the same transaction."""
    def deco(fn):
        _EFFECTS[name] = fn
        return fn
    return deco


def build(definition: dict, model: type, scope: Callable | None = None) -> Workflow:
    """Turn a definition (plain data) into a Workflow; unknown guards or effects fail at import, not at run time."""
    states = {name: State(name, s["title"], s.get("description", "")) for name, s in definition["states"].items()}
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
    return Workflow(name=definition["name"], title=definition["title"], model=model,
                    object_type=model.__tablename__, state_attr=definition["state_attr"],
                    version_attr=definition["version_attr"], initial=definition["initial"], states=states,
                    transitions=transitions, description=definition.get("description", ""), scope=scope)


def check_registered(wf: Workflow) -> None:
    """Every guard and effect a definition names must exist (called once the guard modules are imported)."""
    for t in wf.transitions.values():
        for g in t.guards:
            if g not in _GUARDS:
                raise ValueError(f"{wf.name}.{t.name}: guard {g!r} is not registered")
        for e in t.effects:
            if e not in _EFFECTS:
                raise ValueError(f"{wf.name}.{t.name}: effect {e!r} is not registered")


class WorkflowHistory(db.Model):
    """One fired transition: the workflow's memory of who did what, when, from which state to which, and why."""

    __tablename__ = "workflow_history"
    __table_args__ = (Index("ix_workflow_history_object", "object_type", "object_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_login: Mapped[str] = mapped_column(String(80), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def __repr__(self) -> str:
        return f"<WorkflowHistory {self.workflow} {self.object_id} {self.from_state}->{self.to_state}>"


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
        return ["Такого действия нет."]
    current = wf.state_of(obj)
    if current not in t.source:
        return [f"Действие «{t.title}» невозможно в состоянии «{wf.states[current].title}»."]
    if _role(actor) not in t.roles:
        return [f"Действие «{t.title}» вам не разрешено."]
    if actor is not None and wf.scope is not None and not wf.scope(actor, obj):
        return [f"Действие «{t.title}» вам не разрешено."]
    found = []
    for name in t.guards:
        if not with_input and name in _INPUT_GUARDS:
            continue
        message = _GUARDS[name](obj, actor, params or {})
        if message:
            found.append(message)
    return found


def may(wf: Workflow, obj, action: str, actor, params: dict | None = None) -> bool:
    """Ask without firing; without params, the guards on typed input are not asked."""
    return not problems(wf, obj, action, actor, params, with_input=params is not None)


def available(wf: Workflow, obj, actor) -> list[Transition]:
    """Transitions whose buttons the actor should see now, in definition order."""
    return [t for t in wf.transitions.values() if may(wf, obj, t.name, actor)]


def fire(wf: Workflow, obj, action: str, actor, *, comment: str = "", params: dict | None = None) -> dict:
    """Fire a transition: check, move the state with a version check, record history, run effects. Caller commits.

    Raises WorkflowError (409) when the transition is not allowed, and WorkflowConflict (409) when someone else
    changed the object between reading and writing; nothing is changed in either case.
    """
    t = wf.transitions.get(action)
    found = problems(wf, obj, action, actor, params)
    if found:
        raise WorkflowError(found[0], problems=found)
    if t.needs_comment and not comment.strip():
        raise WorkflowError(f"Для действия «{t.title}» нужно указать причину.")
    before = wf.state_of(obj)
    try:
        proxy = _Proxy()
        wf.machine.add_model(proxy, initial=before)
        getattr(proxy, action)()
        after = proxy.state
    except MachineError as e:  # the definition and the checks above disagree: a bug, but never a silent move
        raise WorkflowError(f"Действие «{t.title}» невозможно сейчас.") from e
    finally:
        wf.machine.remove_model(proxy)
    version = getattr(obj, wf.version_attr) or 0
    table = wf.model.__table__  # plain Core: the ORM's bulk-update machinery costs more than the UPDATE itself
    state_col, version_col = table.c[wf.state_attr], table.c[wf.version_attr]
    result = db.session.execute(
        update(table)
        .where(table.c.id == obj.id, state_col == _typed(obj, wf, before), version_col == version)
        .values({state_col: _typed(obj, wf, after), version_col: version + 1}))
    if result.rowcount != 1:
        db.session.rollback()
        raise WorkflowConflict("Это действие уже выполнил кто-то другой или объект изменился. Обновите страницу.")
    set_committed(obj, wf.state_attr, _typed(obj, wf, after))
    set_committed(obj, wf.version_attr, version + 1)
    # A Core INSERT, not an ORM add: history is write-only here, and skipping the unit of work halves a transition.
    entry = {"workflow": wf.name, "object_type": wf.object_type, "object_id": obj.id, "action": action,
             "from_state": before, "to_state": after, "actor_id": getattr(actor, "id", None),
             "actor_login": getattr(actor, "login", "") or "", "comment": comment.strip()}
    db.session.execute(insert(WorkflowHistory.__table__).values(**entry))
    for name in t.effects:
        _EFFECTS[name](obj, actor, {**(params or {}), "comment": comment, "action": action, "from": before})
    return entry


def history(wf: Workflow, obj) -> list[WorkflowHistory]:
    from sqlalchemy import select

    return list(db.session.scalars(select(WorkflowHistory).where(
        WorkflowHistory.object_type == wf.object_type, WorkflowHistory.object_id == obj.id,
        WorkflowHistory.workflow == wf.name).order_by(WorkflowHistory.id)))


class _Proxy:
    """The stand-in model the shared machine moves (one machine serves every row)."""


def _typed(obj, wf: Workflow, state: str):
    """The state as the column stores it (an enum member when the column is an enum)."""
    current = getattr(obj, wf.state_attr)
    enum_cls = type(current) if hasattr(current, "value") else None
    return enum_cls(state) if enum_cls else state


def set_committed(obj, attr: str, value) -> None:
    """Set an attribute the UPDATE already wrote, without making the ORM write it again."""
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(obj, attr, value)
