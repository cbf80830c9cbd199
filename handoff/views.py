"""HTML fragments of the agent console (all text in Chinese, every value escaped)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from billing.money import format_yuan
from core.privacy import mask_phone
from handoff.html import Html, esc, join, render, tag, void
from handoff.profile import Profile
from handoff.routing import QUEUE_LABELS, QUEUES, REASON_LABELS, SKILL_LABELS, AgentState
from handoff.service import TASK_OUTCOMES, WindowView
from handoff.store import Agent, Chat, Message, QueuedChat, Task

SENDER_LABELS = {"subscriber": "用户", "bot": "智能助手", "system": "系统"}
STATUS_LABELS = {"waiting": "排队中", "assigned": "人工服务中", "closed": "已结束"}
CLOSE_LABELS = {"handed_back": "转回机器人", "closed": "客服结束", "callback": "转回电", "unsubscribed": "用户取消关注"}
KIND_LABELS = {"callback": "回电", "follow_up": "次日回访"}

CANNED_REPLIES = (
    "您好，我是人工客服，请问有什么可以帮您？",
    "请稍等，我帮您查一下。",
    "您别着急，慢慢说，我一直在。",
    "我给您打个电话说，方便吗？",
    "您的问题已经处理好了。",
    "还有别的问题吗？没有的话我就把您转回智能助手了。",
)


@dataclass(frozen=True)
class Clock:
    now: dt.datetime
    tz: ZoneInfo

    def local(self, moment: dt.datetime | None, with_date: bool = False) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(self.tz)
        if with_date or local.date() != self.now.astimezone(self.tz).date():
            return local.strftime("%m-%d %H:%M")
        return local.strftime("%H:%M")

    def waited(self, since: dt.datetime) -> str:
        return duration((self.now - since).total_seconds())


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}秒"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}分钟"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}小时{minutes}分" if hours < 48 else f"{hours // 24}天{hours % 24}小时"


def csrf_field(csrf: str) -> Html:
    return void("input", type="hidden", name="csrf", value=csrf)


def post_button(
    action: str, label: str, csrf: str, css: str = "", confirm: str | None = None, **fields: object
) -> Html:
    hidden = join(void("input", type="hidden", name=key, value=value) for key, value in fields.items())
    button = tag("button", label, type="submit", class_=css or None)
    return tag(
        "form",
        Html(csrf_field(csrf) + hidden + button),
        method="post",
        action=action,
        class_="inline",
        data_confirm=confirm,
    )


def elder_tag(chat_or_task: Chat | Task) -> Html:
    return tag("span", "长者", class_="tag elder") if chat_or_task.is_elder else Html("")


def reason_label(reason: str) -> str:
    return REASON_LABELS.get(reason, reason)


def skills_label(skills: tuple[str, ...]) -> str:
    return "、".join(SKILL_LABELS.get(skill, skill) for skill in skills) or "—"


# ---- dashboard --------------------------------------------------------------------------


def queue_section(waiting: list[QueuedChat], clock: Clock, csrf: str) -> Html:
    rows = []
    for queued in sorted(
        waiting, key=lambda q: (QUEUES.index(q.chat.queue) if q.chat.queue in QUEUES else 9, q.enqueued_at)
    ):
        chat = queued.chat
        rows.append(
            tag(
                "tr",
                Html(
                    tag("td", QUEUE_LABELS.get(chat.queue, chat.queue))
                    + tag("td", Html(elder_tag(chat) + esc(_who(chat))))
                    + tag("td", reason_label(chat.reason))
                    + tag("td", chat.summary or "—", class_="muted")
                    + tag("td", clock.waited(queued.enqueued_at), class_="wait")
                    + tag(
                        "td",
                        Html(
                            post_button(f"/agent/chats/{chat.id}/take", "接入", csrf, "primary")
                            + " "
                            + tag("a", "查看", href=f"/agent/chats/{chat.id}")
                        ),
                    )
                ),
                class_="elder" if chat.is_elder else None,
                data_chat_row=chat.id,
            )
        )
    header = tag("tr", join(tag("th", h) for h in ("队列", "客户", "转人工原因", "摘要", "已等待", "")))
    body = join(rows) if rows else tag("tr", tag("td", "现在没有排队的客户。", colspan=6, class_="muted"))
    counts = "，".join(f"{QUEUE_LABELS[q]} {sum(1 for w in waiting if w.chat.queue == q)} 人" for q in QUEUES)
    return Html(tag("h2", f"排队中（{counts}）") + tag("table", Html(header + body), class_="queue-table"))


def mine_section(chats: list[Chat], unread_since: dict[int, dt.datetime], clock: Clock) -> Html:
    rows = []
    for chat in chats:
        last = unread_since.get(chat.id)
        rows.append(
            tag(
                "tr",
                Html(
                    tag("td", Html(elder_tag(chat) + tag("a", _who(chat), href=f"/agent/chats/{chat.id}")))
                    + tag("td", reason_label(chat.reason))
                    + tag("td", clock.local(chat.assigned_at))
                    + tag("td", clock.local(last) if last else "—")
                ),
                class_="elder" if chat.is_elder else None,
            )
        )
    header = tag("tr", join(tag("th", h) for h in ("客户", "原因", "接入时间", "用户最新消息")))
    body = join(rows) if rows else tag("tr", tag("td", "您现在没有进行中的会话。", colspan=4, class_="muted"))
    return Html(tag("h2", f"我的会话（{len(chats)}）") + tag("table", Html(header + body)))


def due_section(tasks: list[Task], clock: Clock) -> Html:
    due = [task for task in tasks if task.due_at <= clock.now + dt.timedelta(hours=2)]
    if not due:
        return Html(tag("h2", "即将到期的回电") + tag("p", "没有两小时内到期的回电任务。", class_="muted"))
    items = join(
        tag(
            "li",
            Html(
                (tag("span", "已超时", class_="tag overdue") if task.due_at <= clock.now else Html(""))
                + elder_tag(task)
                + esc(
                    f"{KIND_LABELS.get(task.kind, task.kind)} {mask_phone(task.phone) if task.phone else '未绑定号码'}，"
                    f"{clock.local(task.due_at)}前"
                )
            ),
        )
        for task in due
    )
    return Html(tag("h2", "即将到期的回电") + tag("ul", items) + tag("a", "全部回电任务", href="/agent/tasks"))


# ---- one chat ---------------------------------------------------------------------------


def chat_head(
    chat: Chat, agent_name: str | None, window: WindowView, clock: Clock, waited_since: dt.datetime | None
) -> Html:
    status = STATUS_LABELS.get(chat.status, chat.status)
    if chat.status == "closed":
        status += f"（{CLOSE_LABELS.get(chat.close_reason or '', chat.close_reason or '')}）"
    if chat.status == "assigned" and agent_name:
        status += f"，负责客服：{agent_name}"
    line = Html(
        tag("h2", Html(elder_tag(chat) + esc(f"会话 #{chat.id} · {_who(chat)}")))
        + tag(
            "p",
            f"状态：{status} · 队列：{QUEUE_LABELS.get(chat.queue, chat.queue)} · 原因：{reason_label(chat.reason)}"
            + (f" · 已等待 {clock.waited(waited_since)}" if waited_since and chat.status == "waiting" else ""),
            id="chat-status",
            data_status=chat.status,
        )
    )
    return Html(line + window_panel(window, chat))


def window_panel(window: WindowView, chat: Chat) -> Html:
    if not window.known:
        return tag("p", "微信发送限制：暂时查不到", class_="window closed", id="window")
    if not window.open:
        text = "微信48小时窗口已关闭：用户超过48小时没有发消息，现在不能给他/她发消息。请创建回电任务。"
        return tag("p", text, class_="window closed", id="window", data_left=0)
    text = f"微信48小时窗口：还剩 {duration(window.seconds_left)}；本轮还可发 {window.messages_left} 条（用户每发一条消息，最多回复5条）"
    css = "window" if window.messages_left > 0 else "window closed"
    if window.messages_left == 0:
        text = "本轮5条回复已用完：请等用户再发消息后继续回复。" + f"（窗口还剩 {duration(window.seconds_left)}）"
    return tag("p", text, class_=css, id="window", data_left=window.messages_left)


def transcript_section(messages: list[Message], agents: dict[int, str], clock: Clock) -> Html:
    if not messages:
        return tag("p", "还没有消息。", class_="muted")
    return join(_message(message, agents, clock) for message in messages)


def _message(message: Message, agents: dict[int, str], clock: Clock) -> Html:
    if message.sender == "agent":
        who = f"客服{agents.get(message.agent_id or 0, '')}"
    elif message.sender == "system" and message.msg_type == "text":
        who = "系统发给用户"
    else:
        who = SENDER_LABELS.get(message.sender, message.sender)
    if message.msg_type == "voice":
        who += " · 语音"
    body: list[Html] = []
    if message.msg_type == "voice" and message.audio_id:
        body.append(tag("audio", "", controls=True, preload="none", src=f"/agent/audio/{message.audio_id}"))
    if message.msg_type == "voice":
        if message.text:
            body.append(tag("div", f"识别文字：{message.text}"))
        elif message.audio_id:
            body.append(tag("div", "（语音未能识别成文字，请点播放收听）"))
        else:
            body.append(tag("div", "（一条语音，未能下载也未能识别，请用户打字或回电）"))
    elif message.msg_type == "image" and message.media_url:
        body.append(
            tag(
                "a",
                void("img", src=message.media_url, alt="用户发来的图片", referrerpolicy="no-referrer"),
                href=message.media_url,
                target="_blank",
                rel="noopener noreferrer",
            )
        )
    elif message.msg_type == "link" and message.media_url:
        body.append(
            tag(
                "a",
                message.text or message.media_url,
                href=message.media_url,
                target="_blank",
                rel="noopener noreferrer",
            )
        )
    else:
        body.append(tag("div", message.text or ""))
    css = ["msg", message.sender]
    if message.delivery == "refused":
        css.append("refused")
        body.append(tag("div", message.delivery_note or "未发送", class_="refusal"))
    elif message.delivery == "pending":
        body.append(tag("div", "发送中…", class_="muted"))
    head = tag("div", f"{who} · {clock.local(message.created_at)}", class_="who")
    return tag("div", Html(head + join(body)), class_=" ".join(css), data_message=message.id)


def reply_section(chat: Chat, can_reply: bool, csrf: str) -> Html:
    if chat.status == "waiting":
        return Html(
            tag("p", "客户正在排队。接入后才能回复。")
            + post_button(f"/agent/chats/{chat.id}/take", "接入这个会话", csrf, "primary")
        )
    if not can_reply:
        return tag("p", "这个会话不由您负责，或已经结束。", class_="muted")
    canned = join(tag("button", text, type="button", data_canned=text) for text in CANNED_REPLIES)
    form = tag(
        "form",
        Html(
            csrf_field(csrf)
            + tag(
                "textarea",
                "",
                name="text",
                id="reply-text",
                maxlength=600,
                placeholder="输入回复（给老人的话请简短、直白）",
                required=True,
            )
            + tag("button", "发送", type="submit", class_="primary", id="send")
        ),
        method="post",
        action=f"/agent/chats/{chat.id}/reply",
    )
    return Html(tag("div", canned, class_="canned") + form)


def actions_section(chat: Chat, online_agents: list[AgentState], me: Agent, csrf: str, window: WindowView) -> Html:
    if not chat.is_open:
        closed = [tag("p", "会话已结束。", class_="muted")]
        closed.append(post_button(f"/agent/chats/{chat.id}/callback", "创建回电任务", csrf))
        return join(closed)
    parts: list[Html] = [tag("h2", "操作")]
    parts.append(
        post_button(
            f"/agent/chats/{chat.id}/handback",
            "转回智能助手",
            csrf,
            "primary",
            confirm="确定把这位客户转回智能助手吗？",
        )
    )
    parts.append(
        post_button(f"/agent/chats/{chat.id}/close", "结束会话", csrf, "danger", confirm="确定结束这个会话吗？")
    )
    others = [a for a in online_agents if a.agent_id != me.id]
    agent_options = join(
        tag("option", f"{a.name}（{skills_label(a.skills)}，{a.active_chats}/{a.capacity}）", value=a.agent_id)
        for a in others
    )
    if others:
        parts.append(
            tag(
                "form",
                Html(
                    csrf_field(csrf)
                    + tag("select", agent_options, name="agent_id")
                    + tag("button", "转给这位客服", type="submit")
                ),
                method="post",
                action=f"/agent/chats/{chat.id}/transfer",
                class_="stack",
            )
        )
    else:
        parts.append(tag("p", "没有其他在线客服可以转。", class_="muted"))
    queue_options = join(tag("option", QUEUE_LABELS[q], value=q) for q in QUEUES)
    parts.append(
        tag(
            "form",
            Html(
                csrf_field(csrf) + tag("select", queue_options, name="queue") + tag("button", "转到队列", type="submit")
            ),
            method="post",
            action=f"/agent/chats/{chat.id}/transfer",
            class_="stack",
        )
    )
    label = "窗口已关闭，创建回电任务" if window.known and not window.open else "创建回电任务"
    parts.append(post_button(f"/agent/chats/{chat.id}/callback", label, csrf, "primary" if not window.open else ""))
    return join(parts)


def profile_section(
    profile: Profile, chat: Chat, earlier: list[Chat], tasks: list[Task], clock: Clock, csrf: str, green_channel: bool
) -> Html:
    rows = [
        ("号码", profile.masked_phone),
        ("姓名", profile.masked_name),
        ("年龄", f"{profile.age}岁" if profile.age is not None else "—"),
        ("方言", SKILL_LABELS.get(profile.dialect or "", profile.dialect or "—")),
        ("套餐", profile.plan_name or "—"),
        ("余额", format_yuan(profile.balance_fen) if profile.balance_fen is not None else "—"),
        ("欠费", format_yuan(profile.arrears_fen) if profile.balance_fen is not None and profile.arrears_fen else "无"),
        ("线路状态", profile.status_label),
        ("标签", "、".join(profile.tags) or "—"),
    ]
    parts: list[Html] = [tag("h2", "客户资料")]
    if profile.error:
        parts.append(tag("p", profile.error, class_="error"))
    parts.append(
        tag("dl", join(Html(tag("dt", k) + tag("dd", v)) for k, v in rows), class_="profile", id="profile-data")
    )
    if green_channel:
        parts.append(tag("p", "绿色通道：这位长者的号码因挂失或停机保号停机，可一键复机（将记录您的姓名）。"))
        parts.append(
            post_button(
                f"/agent/chats/{chat.id}/green-channel",
                "一键复机（绿色通道）",
                csrf,
                "green",
                confirm="确定为这位客户办理复机吗？操作会记录在审计日志中。",
            )
        )
    history = [c for c in earlier if c.id != chat.id]
    parts.append(tag("h2", f"以往转人工（{len(history)}）"))
    if history:
        parts.append(
            tag(
                "ul",
                join(
                    tag(
                        "li",
                        Html(
                            tag(
                                "a",
                                f"{clock.local(c.created_at, with_date=True)} {reason_label(c.reason)}",
                                href=f"/agent/chats/{c.id}",
                            )
                            + esc(
                                f"（{CLOSE_LABELS.get(c.close_reason or '', STATUS_LABELS.get(c.status, c.status))}）"
                            )
                        ),
                    )
                    for c in history[:10]
                ),
            )
        )
    open_tasks = [t for t in tasks if t.is_open]
    if open_tasks:
        parts.append(tag("h2", "未完成任务"))
        parts.append(
            tag(
                "ul",
                join(
                    tag("li", f"{KIND_LABELS.get(t.kind, t.kind)}：{clock.local(t.due_at, with_date=True)}前")
                    for t in open_tasks
                ),
            )
        )
    return join(parts)


# ---- tasks ------------------------------------------------------------------------------


def tasks_page(open_tasks: list[Task], done: list[Task], clock: Clock, csrf: str, revealed: dict[int, str]) -> Html:
    outcome_options = join(tag("option", label, value=key) for key, label in TASK_OUTCOMES.items())
    rows = []
    for task in open_tasks:
        overdue = task.due_at <= clock.now
        number = revealed.get(task.id)
        phone_cell = (
            tag("strong", number)
            if number
            else Html(
                esc(mask_phone(task.phone)) + " " + post_button(f"/agent/tasks/{task.id}/reveal", "显示号码", csrf)
            )
            if task.phone
            else tag("span", "未绑定号码（请在微信里回复）", class_="muted")
        )
        outcome_form = tag(
            "form",
            Html(
                csrf_field(csrf)
                + tag("select", outcome_options, name="outcome")
                + void("input", type="text", name="note", placeholder="备注", maxlength=500)
                + tag("button", "记录结果", type="submit")
            ),
            method="post",
            action=f"/agent/tasks/{task.id}/outcome",
            class_="inline",
        )
        rows.append(
            tag(
                "tr",
                Html(
                    tag("td", Html(esc(f"#{task.id} {KIND_LABELS.get(task.kind, task.kind)} ") + elder_tag(task)))
                    + tag("td", phone_cell)
                    + tag("td", reason_label(task.reason))
                    + tag("td", task.note or "—", class_="muted")
                    + tag(
                        "td",
                        Html((tag("span", "已超时", class_="tag overdue") + " ") if overdue else "")
                        + esc(clock.local(task.due_at, True) + "前"),
                    )
                    + tag(
                        "td",
                        f"{task.attempts}次" + (f"（上次：{task.outcome_note or '未接通'}）" if task.attempts else ""),
                    )
                    + tag(
                        "td",
                        Html((tag("a", "会话", href=f"/agent/chats/{task.chat_id}") + " ") if task.chat_id else "")
                        + outcome_form,
                    )
                ),
                class_="elder" if task.is_elder else None,
                data_task=task.id,
            )
        )
    header = tag("tr", join(tag("th", h) for h in ("任务", "号码", "原因", "备注", "期限", "已联系", "处理")))
    body = join(rows) if rows else tag("tr", tag("td", "没有待处理的回电或回访任务。", colspan=7, class_="muted"))
    done_rows = join(
        tag(
            "li",
            f"#{t.id} {KIND_LABELS.get(t.kind, t.kind)} {mask_phone(t.phone) if t.phone else ''}："
            f"{TASK_OUTCOMES.get(t.outcome or '', t.outcome or '')}（{t.done_by}，{clock.local(t.done_at, True)}）"
            + (f" {t.outcome_note}" if t.outcome_note else ""),
        )
        for t in done
    )
    return Html(
        tag(
            "section",
            Html(
                tag("h2", f"待处理的回电/回访（{len(open_tasks)}）")
                + tag("p", "来电必复：每个任务都要记录结果。", class_="muted")
                + tag("table", Html(header + body), id="task-table")
            ),
            class_="panel",
        )
        + tag(
            "section",
            Html(tag("h2", "最近完成") + (tag("ul", done_rows) if done else tag("p", "暂无", class_="muted"))),
            class_="panel",
        )
    )


# ---- supervisor -------------------------------------------------------------------------


@dataclass(frozen=True)
class SupervisorFigures:
    queue_lengths: dict[str, int]
    longest_wait_s: dict[str, float]
    agents: list[AgentState]
    callbacks_due: int
    callbacks_overdue: int
    answered_24h: int
    requests_24h: int


def supervisor_page(figures: SupervisorFigures, audit_rows: list, clock: Clock) -> Html:
    stats = []
    for queue in QUEUES:
        stats.append(
            tag(
                "div",
                Html(tag("b", figures.queue_lengths.get(queue, 0)) + esc(f"{QUEUE_LABELS[queue]}排队")),
                class_="stat",
            )
        )
        longest = figures.longest_wait_s.get(queue)
        stats.append(
            tag(
                "div",
                Html(
                    tag("b", duration(longest) if longest is not None else "—") + esc(f"{QUEUE_LABELS[queue]}最长等待")
                ),
                class_="stat",
            )
        )
    online = [a for a in figures.agents if a.online]
    stats.append(tag("div", Html(tag("b", len(online)) + esc("在线客服")), class_="stat"))
    stats.append(tag("div", Html(tag("b", figures.callbacks_due) + esc("待回电（未超时）")), class_="stat"))
    stats.append(tag("div", Html(tag("b", figures.callbacks_overdue) + esc("回电已超时")), class_="stat", id="overdue"))
    share = f"{100 * figures.answered_24h / figures.requests_24h:.0f}%" if figures.requests_24h else "—"
    stats.append(
        tag(
            "div",
            Html(tag("b", share) + esc(f"24小时内答复（{figures.answered_24h}/{figures.requests_24h}，近30天）")),
            class_="stat",
            id="share24",
        )
    )
    agent_rows = join(
        tag(
            "tr",
            Html(
                tag("td", a.name)
                + tag("td", skills_label(a.skills))
                + tag("td", ("在线" if a.online else "离线") + ("，就绪" if a.ready and a.online else ""))
                + tag("td", f"{a.active_chats}/{a.capacity}")
            ),
        )
        for a in sorted(figures.agents, key=lambda a: (not a.online, a.name))
    )
    audit_items = join(
        tag(
            "li",
            f"{clock.local(row.at, True)} {row.actor}：{_audit_label(row.action)} {mask_phone(row.phone) if row.phone else ''} {row.detail or ''}",
        )
        for row in audit_rows
    )
    return Html(
        tag("section", Html(tag("h2", "主管视图") + tag("div", join(stats), class_="stats")), class_="panel")
        + tag(
            "section",
            Html(
                tag("h2", "客服状态")
                + tag(
                    "table",
                    Html(tag("tr", join(tag("th", h) for h in ("客服", "技能", "状态", "会话/上限"))) + agent_rows),
                )
            ),
            class_="panel",
        )
        + tag(
            "section",
            Html(
                tag("h2", "最近的操作记录")
                + (tag("ul", audit_items) if audit_rows else tag("p", "暂无", class_="muted"))
            ),
            class_="panel",
        )
    )


def supervisor_wrapper(inner: Html) -> Html:
    return tag(
        "div",
        inner,
        id="supervisor",
        data_partial="/agent/partials/supervisor",
        data_kinds="queue,chat,agents,tasks",
        data_tick="1",
    )


def _audit_label(action: str) -> str:
    return {
        "green_channel_reactivate": "绿色通道复机",
        "green_channel_refused": "绿色通道被拒",
        "reveal_phone": "查看完整号码",
        "task_reached": "回电：已解决",
        "task_resolved_online": "回访：微信解决",
        "task_no_answer": "回电：未接通",
        "task_closed_other": "任务：其他",
    }.get(action, action)


def _who(chat: Chat) -> str:
    number = mask_phone(chat.phone) if chat.phone else "未绑定号码"
    age = f"，{chat.age}岁" if chat.age is not None else ""
    return f"{number}{age}"


def flash(kind: str, text: str) -> Html:
    return tag("div", text, class_=f"flash {kind}", id="flash", role="alert")


NO_FLASH = Html("")


def page(
    title: str,
    content: Html,
    agent: Agent,
    csrf: str,
    task_count: int,
    flash_html: Html = NO_FLASH,
    path: str = "/agent/",
) -> Html:
    ready_control = (
        tag(
            "button",
            "就绪中（点击暂停接单）",
            type="submit",
            name="ready",
            value="0",
            id="ready-toggle",
            data_ready="1",
        )
        if agent.ready
        else tag(
            "button",
            "未就绪（点击开始接单）",
            type="submit",
            name="ready",
            value="1",
            id="ready-toggle",
            data_ready="0",
        )
    )
    return render(
        "layout.html",
        title=title,
        csrf=csrf,
        agent_id=agent.id,
        agent_name=agent.name,
        role_label="主管" if agent.is_supervisor else "客服",
        task_count=task_count or "",
        supervisor_link=tag("a", "主管视图", href="/agent/supervisor") if agent.is_supervisor else Html(""),
        ready_control=ready_control,
        flash=flash_html,
        content=content,
        path=path,
    )
