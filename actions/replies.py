"""Every sentence the assistant says, in one place. Short and plain; shorter still for
elderly subscribers (`elder=True`). Numbered choices always mean: 1 yes, 2 no, 0 a human."""

from __future__ import annotations

import datetime as dt

from billing.backend import (
    Balance,
    Bill,
    BillItem,
    Charge,
    ChargeKind,
    InvoiceStatus,
    LineStatus,
    Payment,
    Plan,
    Points,
    PointsReward,
    Recommendation,
    Subscription,
    SuspendReason,
    Usage,
)
from billing.money import format_data, format_yuan
from billing.payments import PaymentOrder
from billing.periods import BILLING_TZ as LOCAL_TZ
from billing.tariff import OVERAGE_FEN_PER_MINUTE, OVERAGE_FEN_PER_STARTED_GB
from core.privacy import mask_phone
from core.vocabulary import HandoffReason

CONFIRM_CHOICES = "回复1确认，回复2取消。"
MAX_LINES = 8  # a phone screen: no reply is longer

SUSPEND_REASONS = {
    SuspendReason.ARREARS: "欠费停机",
    SuspendReason.REPORTED_LOST: "挂失停机",
    SuspendReason.REAL_NAME: "实名信息未核验",
    SuspendReason.VOLUNTARY: "您申请的停机保号",
}


def menu(elder: bool) -> str:
    if elder:
        return "您好！请回复数字：\n1 查话费\n2 查流量\n3 充话费\n0 找人工"
    return (
        "您好，我是客服小助手，可以帮您：\n"
        "1 查话费余额\n2 查流量和通话\n3 充话费\n4 查我的套餐\n5 推荐套餐\n0 转人工客服\n"
        "请回复数字，或直接说您的问题。"
    )


def not_understood(elder: bool) -> str:
    if elder:
        return "抱歉，我没听明白。回复0，请人工帮您。"
    return "抱歉，我没太明白。您可以回复：1查余额 2查流量 3充话费 4查套餐，或回复0转人工。"


def out_of_scope(elder: bool) -> str:
    if elder:
        return "这个我帮不上忙。查话费回复1，找人工回复0。"
    return "这个问题我还不会回答。我可以帮您查话费、查流量、充值和办套餐，回复0转人工。"


def offer_human() -> str:
    return "需要人工帮您，请回复0。"


def bind_by_person() -> str:
    # An elder whose number is not bound: a person binds it with her (no SMS-code form).
    return "查话费要先确认您的手机号，客服会帮您办。"


# --- account binding -------------------------------------------------------------------


def ask_phone_to_bind(elder: bool) -> str:
    if elder:
        return "查询前要先绑定手机号。请回复您的手机号（11位）。"
    return "为保护您的信息，查询前需要先绑定手机号。请回复您的11位手机号码，我们会发送验证码。"


def code_sent(phone: str) -> str:
    return f"验证码已发送到{mask_phone(phone)}，请回复6位验证码（5分钟内有效）。"


def unknown_phone() -> str:
    # Only for text that is not a mobile number: whether a number is ours is never said.
    return "这不是有效的11位手机号码，请核对后重新回复手机号。"


def phone_code_limit() -> str:
    return "这个号码的验证码发送次数已达上限，请1小时后再试，或回复0转人工。"


def bind_locked(until: dt.datetime | None) -> str:
    when = f"请在{until.astimezone(LOCAL_TZ):%H:%M}后再试" if until else "请15分钟后再试"
    return f"验证码错误次数过多，绑定已暂停，{when}，或回复0转人工。"


def send_too_soon() -> str:
    return "验证码刚发过，请稍等一分钟再试。"


def wrong_code(attempts_left: int) -> str:
    return f"验证码不对，还可以再试{attempts_left}次。请重新回复6位验证码。"


def code_expired() -> str:
    return "验证码已过期。请重新回复您的手机号，我们再发一次。"


def bound_ok(phone: str) -> str:
    return f"绑定成功！已绑定{mask_phone(phone)}。"


def bound_already(phone: str) -> str:
    """Asked to bind while a number is bound: the binding follows her WeChat, not her phone."""
    return f"您已绑定{mask_phone(phone)}，换手机不用重新绑定。要再绑定别的号码，请回复11位手机号。"


def already_bound(phone: str) -> str:
    return f"您已绑定{mask_phone(phone)}。"


def unbound_ok(phone: str) -> str:
    return f"已解除绑定{mask_phone(phone)}。"


def nothing_to_unbind() -> str:
    return "您还没有绑定手机号。"


# --- balance, bill, usage ---------------------------------------------------------------


def balance(
    b: Balance, elder: bool, asked_status: bool = False, cannot_call: bool = False, offer_top_up: bool = True
) -> str:
    """`asked_status`: she asked whether the line is cut off or in arrears (「我欠费了吗」「怎么停机了」):
    a working line is said to work, before its balance; `cannot_call`: she said it does not work;
    `offer_top_up`: an elder's low balance brings the top-up offer (not when a line after it does)."""
    if b.arrears_fen > 0:
        text = f"您已欠费{format_yuan(b.arrears_fen)}。"
    elif asked_status and b.status != LineStatus.SUSPENDED:
        text = f"您的号码没有欠费，也没有停机，话费余额{format_yuan(b.balance_fen)}。"
        if cannot_call:
            text += "\n需要人工帮您看，回复0。" if elder else "\n还是用不了，可能是信号或手机问题，可以说「手机报修」。"
    else:
        text = f"您的话费余额：{format_yuan(b.balance_fen)}。"
    if b.status == LineStatus.SUSPENDED:
        reason = SUSPEND_REASONS.get(b.suspend_reason, "停机") if b.suspend_reason else "停机"
        text += f"\n号码目前停机，原因：{reason}。"
        text += "\n" + how_to_reactivate(b, elder)
    elif b.arrears_fen > 0:
        text += "请尽快充值，以免停机。回复3充话费。"
    elif elder and offer_top_up and b.balance_fen < LOW_BALANCE_FEN:
        text += "\n余额不多了，回复3充话费。"
    return text


LOW_BALANCE_FEN = 2000  # below 20元 an elder hears 「余额不多了」 with her balance


# A lost phone may still be logged in to WeChat: the chat cannot lift a 挂失, nor can an agent.
LOST_LINE_REACTIVATION = "挂失的号码不能在微信里复机。请本人带身份证到营业厅，或用其他电话拨打客服热线核实身份后办理。"


def how_to_reactivate(b: Balance, elder: bool) -> str:
    if b.suspend_reason == SuspendReason.ARREARS:
        return f"充值{format_yuan(b.arrears_fen)}以上即可自动复机，回复3充话费。"
    if b.suspend_reason == SuspendReason.REAL_NAME:
        return "请带身份证到营业厅核验后复机。"
    if b.suspend_reason == SuspendReason.REPORTED_LOST:
        return LOST_LINE_REACTIVATION
    return "回复0，人工客服帮您办理复机。" if elder else "如需复机，回复0转人工客服办理。"


def bill(b: Bill, elder: bool) -> str:
    """The month's total and its lines; lines that do not fit a screen: the 3 dearest and 「更多」."""
    month = f"{int(b.month[5:7])}月"
    if elder or not b.items:
        return f"您{month}话费共{format_yuan(b.total_fen)}。"
    lines = [f"您{month}账单：共{format_yuan(b.total_fen)}"]
    if bill_is_cut(b):
        lines += [bill_item_line(item) for item in bill_order(b)[:SHOWN_ITEMS]]
        lines += _more(len(b.items) - SHOWN_ITEMS)
    else:
        lines += [bill_item_line(item) for item in b.items]
    return "\n".join(lines)


def bill_totals(bills: list[Bill], current: str, elder: bool) -> str:
    """Several months' bills as one total each, newest first, and how to see one month's lines."""
    totals = [(month_name(b.month, current), format_yuan(b.total_fen) if b.items else "无账单") for b in bills]
    if elder:
        return f"近{len(bills)}个月话费：" + "，".join(f"{name}{total}" for name, total in totals) + "。"
    lines = [f"您近{len(bills)}个月的账单："]
    lines += [f"· {name} {total}" for name, total in totals]
    lines.append("看某个月的明细，请说月份，比如：" + totals[0][0] + "账单")
    return "\n".join(lines)


def bill_is_cut(b: Bill) -> bool:
    return 1 + len(b.items) > MAX_LINES


def bill_order(b: Bill) -> list[BillItem]:
    return sorted(b.items, key=lambda item: -item.amount_fen)


def bill_item_line(item: BillItem) -> str:
    return f"· {item.name} {format_yuan(item.amount_fen)}"


def more_bill(b: Bill) -> str:
    rest = [bill_item_line(item) for item in bill_order(b)[SHOWN_ITEMS:]]
    return more_lines(rest, f"{int(b.month[5:7])}月账单的其余项目：")


def usage(u: Usage, elder: bool) -> str:
    data = f"流量剩{format_data(u.data_left_mb)}"
    voice = f"通话剩{u.voice_left_minutes}分钟"
    if elder:
        return f"本月{data}，{voice}。"
    text = (
        f"本月用量：\n流量已用{format_data(u.data_used_mb)}，剩余{format_data(u.data_left_mb)}"
        f"（共{format_data(u.data_total_mb)}）\n"
        f"通话已用{u.voice_used_minutes}分钟，剩余{u.voice_left_minutes}分钟（共{u.voice_total_minutes}分钟）"
    )
    if u.data_total_mb and u.data_used_mb * 10 >= u.data_total_mb * 9:
        text += "\n流量快用完了，回复5看看更合适的套餐。"
    return text


def no_usage_record(month: str, current: str) -> str:
    return f"查不到{month_name(month, current)}的用量记录。"


def past_usage(u: Usage, current: str, elder: bool) -> str:
    name = month_name(u.month, current)
    if elder:
        return f"{name}用了流量{format_data(u.data_used_mb)}，通话{u.voice_used_minutes}分钟。"
    return (
        f"{name}用量：\n流量用了{format_data(u.data_used_mb)}（共{format_data(u.data_total_mb)}）\n"
        f"通话用了{u.voice_used_minutes}分钟（共{u.voice_total_minutes}分钟）"
    )


# --- top-up -----------------------------------------------------------------------------


def ask_amount(elder: bool) -> str:
    return "充多少钱？请回复金额，比如：50" if elder else "请问充值多少元？请回复金额，比如：50（1到5000元）。"


def amount_out_of_range() -> str:
    return "单次充值金额为1到5000元，请重新回复金额。"


# Why an amount was not taken as written (the `amount_invalid` entity from nlu/).
_AMOUNT_PROBLEMS = {
    "negative": "充值金额不能是负数。",
    "exponent": "金额请直接写数字，比如「充1000元」。",
    "fraction": "充值金额请用整元，比如「充50元」。",
    "too_long": "这个金额太大了。",
}


def amount_invalid(problem: str) -> str:
    """「充值-50」「1e3」「充1.5元」「充99999999999999999999元」: refused, never read as another number."""
    return _AMOUNT_PROBLEMS.get(problem, "没看懂这个金额。") + "单次可充1到5000元，请重新回复金额。"


def confirm_top_up(phone: str, amount_fen: int) -> str:
    return f"为{mask_phone(phone)}充值{format_yuan(amount_fen)}？{CONFIRM_CHOICES}"


def confirm_top_up_for_other(phone: str, amount_fen: int) -> str:
    return f"给他人号码充值：{phone}，{format_yuan(amount_fen)}。请核对号码，无误{CONFIRM_CHOICES}"


def ask_number_to_top_up(relative: str | None, bound_masked: list[str]) -> str:
    """Whose line a family top-up is for: her relative's number, or one of her bound lines."""
    who = _whose(relative)
    lines = [f"给{who}充话费：请回复{who}的11位手机号。"]
    if bound_masked:
        lines.append("给已绑定的号码充，请回复序号：")
        lines += [f"{number} {phone}" for number, phone in enumerate(bound_masked[:CHOICES_SHOWN], 1)]
    return "\n".join(lines)


def top_up_number_not_ours(phone: str) -> str:
    return f"{mask_phone(phone)}不是本网在用号码，无法充值。请核对号码。"


def pay_link(payment: PaymentOrder, link: str) -> str:
    return (
        f"请点击链接，用微信支付{format_yuan(payment.amount_fen)}，为{mask_phone(payment.phone)}充值：\n{link}\n"
        f"支付成功后到账并通知您。订单号：{payment.order_no}"
    )


def top_up_already_paid() -> str:
    return "这笔充值已支付，无法取消。"


def top_up_cancelled() -> str:
    return "已取消充值，没有扣款。"


# --- plans ------------------------------------------------------------------------------


def plan_line(p: Plan) -> str:
    voice = f"{p.voice_minutes}分钟" if p.voice_minutes else "无通话分钟"
    return f"{p.name}：{format_yuan(p.monthly_fee_fen)}/月，流量{format_data(p.data_mb)}，{voice}"


def current_plan(p: Plan, elder: bool) -> str:
    if elder:
        return f"您的套餐是{p.name}，每月{format_yuan(p.monthly_fee_fen)}。"
    return f"您当前的套餐：\n{plan_line(p)}\n{p.description}"


def plan_renews_monthly(p: Plan, elder: bool) -> str:
    """「套餐什么时候到期」: a plan runs month by month until she changes it."""
    fee = format_yuan(p.monthly_fee_fen)
    if elder:
        return f"您的{p.name}每个月自动续，不会到期，每月扣{fee}。"
    return f"您的{p.name}按月自动续用，没有到期日，每月扣月费{fee}。\n想换别的套餐，回复“换套餐”。"


def plans_with_most_data(plans: list[Plan]) -> str:
    """`plans` most data first: the first SHOWN_ITEMS."""
    return "\n".join(["流量最多的套餐：", *(plan_line(p) for p in plans[:SHOWN_ITEMS]), PLAN_LIST_FOOTER])


def plans_with_most_minutes(plans: list[Plan]) -> str:
    """`plans` most minutes first: the first SHOWN_ITEMS."""
    return "\n".join(["通话分钟最多的套餐：", *(plan_line(p) for p in plans[:SHOWN_ITEMS]), PLAN_LIST_FOOTER])


def _budget(yuan: int, around: bool) -> str:
    return f"{yuan}元左右" if around else f"{yuan}元以内"


def plans_within_budget(plans: list[Plan], yuan: int, around: bool, elder: bool) -> str:
    """「三十块钱以下的套餐」: the plans her budget admits, numbered for her pick."""
    lines = [f"每月{_budget(yuan, around)}的套餐："]
    lines += [f"{n} {plan_line(p)}" for n, p in enumerate(plans[:SHOWN_ITEMS], 1)]
    lines.append("回复序号。" if elder else "回复序号，我再跟您确认。")
    return "\n".join(lines)


def no_plan_within_budget(yuan: int, around: bool, nearest: Plan) -> str:
    """None fits: the nearest (for a limit, the cheapest)."""
    which = "最接近的" if around else "最便宜的"
    return f"没有每月{_budget(yuan, around)}的套餐。{which}是{plan_line(nearest)}。\n想换它请回复：换成{nearest.name}。"


def ask_other_line(elder: bool) -> str:
    if elder:
        return "请回复另一个号码（11位），验证码会发到那个号码上。"
    return "这里只绑定了一个号码。请回复另一个号码（11位），验证码会发到那个号码上，绑定后就帮您查。"


def top_up_suggestion(monthly_fen: int) -> str:
    """「一般充多少合适」: the fixed fees each month takes; a top-up of about that lasts the month."""
    return f"您每月固定扣约{format_yuan(monthly_fen)}（套餐和已开的业务），充这个数或多一点，就够一个月。"


def balance_lasts(b: Balance, due_fen: int, elder: bool) -> str:
    """「够不够用到月底」: her balance against the monthly fees due on the 1st (her plan and services);
    usage beyond the plan would come on top."""
    if b.balance_fen - b.arrears_fen >= due_fen:
        if elder:
            return f"够用。下月1号扣月费约{format_yuan(due_fen)}，您的余额够。"
        return f"够用：下月初要扣月费约{format_yuan(due_fen)}（套餐和已开的业务），余额够扣。超出套餐的用量另算。"
    short = format_yuan(due_fen - b.balance_fen + b.arrears_fen)
    if elder:
        return f"不太够。下月1号要扣约{format_yuan(due_fen)}，还差{short}。回复3充话费。"
    return (
        f"下月初要扣月费约{format_yuan(due_fen)}（套餐和已开的业务），还差{short}，月底前充值就不会停机。回复3充话费。"
    )


def plan_list(plans: list[Plan], elder: bool) -> str:
    if elder:
        picks = [p for p in plans if p.elder_friendly] or plans[:3]
        return "适合您的套餐：\n" + "\n".join(plan_line(p) for p in picks[:SHOWN_ITEMS]) + "\n想办理请回复套餐名称。"
    lines = [PLAN_LIST_HEADER, *(plan_line(p) for p in plans[:SHOWN_ITEMS]), *_more(len(plans) - SHOWN_ITEMS)]
    return "\n".join([*lines, PLAN_LIST_FOOTER])


def more_plans(plans: list[Plan]) -> str:
    return more_lines([plan_line(p) for p in plans[SHOWN_ITEMS:]], "其余的套餐：", PLAN_LIST_FOOTER)


PLAN_LIST_HEADER = "可办理的套餐："
PLAN_LIST_FOOTER = "想办理请回复：换成+套餐名称。"


def recommendation(r: Recommendation, current: Plan) -> str:
    if r.plan.code == current.code:
        return r.reason
    return f"{r.reason}\n推荐：{plan_line(r.plan)}\n要换成这个套餐吗？{CONFIRM_CHOICES}"


def plans_for_the_old(plans: list[Plan]) -> str:
    lines = ["适合老人的套餐：", *(plan_line(p) for p in plans[:SHOWN_ITEMS]), PLAN_LIST_FOOTER]
    return "\n".join(lines)


def plans_for_relative(relative: str, plans: list[Plan], for_elders: bool) -> str:
    who = _whose(relative)
    lines = ["适合老人的套餐：" if for_elders else "可办理的套餐："]
    lines += [f"· {plan_line(p)}" for p in plans[:SHOWN_ITEMS]]
    lines.append(f"要按{who}的用量推荐，请回复{who}的11位手机号，验证码会发到{who}的手机上。")
    return "\n".join(lines)


def ask_which_plan() -> str:
    return "想换成哪个套餐？请回复套餐名称，比如：孝心套餐。回复「套餐列表」查看全部。"


def no_plan_that_way(current: Plan) -> str:
    return f"没有比{current.name}更合适的可换套餐了。回复「套餐列表」查看全部。"


def plans_to_pick(plans: list[Plan], current: Plan, elder: bool) -> str:
    lines = [f"您现在是{current.name}（{format_yuan(current.monthly_fee_fen)}/月），可以换："]
    lines += [f"{n} {plan_line(p)}" for n, p in enumerate(plans[:SHOWN_ITEMS], 1)]
    lines.append("回复序号，我再跟您确认。" if not elder else "回复序号。")
    return "\n".join(lines)


def pick_plan_again(count: int) -> str:
    return f"请回复1到{count}的序号，或套餐名称。"


def confirm_plan_change(current: Plan, target: Plan) -> str:
    return f"把套餐从{current.name}换成{plan_line(target)}？下月1日生效。{CONFIRM_CHOICES}"


def plan_needs_in_person(target: Plan) -> str:
    return f"办理{target.name}需要本人带身份证到营业厅核验。需要人工帮您预约吗？回复0转人工。"


def plan_changed(target: Plan, effective: dt.date | None) -> str:
    when = f"{effective.month}月{effective.day}日" if effective else "下月1日"
    return f"办理成功！{when}起您的套餐换成{target.name}。"


def plan_same(target: Plan) -> str:
    return f"您现在就是{target.name}，不用更换。"


def plan_line_not_active() -> str:
    return "号码停机期间不能更换套餐，请先复机。回复1查余额。"


def plan_change_cancelled() -> str:
    return "好的，套餐不变。"


def unknown_plan() -> str:
    return "没有找到这个套餐。" + ask_which_plan()


# --- service ----------------------------------------------------------------------------


def fault_ticket(ticket_no: str, elder: bool, broadband: bool = False) -> str:
    what = "宽带" if broadband else ""
    if elder:
        return f"已帮您报修{what}，单号{ticket_no}。师傅24小时内给您打电话。"
    return f"已为您登记{what}故障，工单号{ticket_no}。维修人员会在24小时内联系您，请保持电话畅通。"


def taken_back(elder: bool) -> str:
    if elder:
        return "好的，刚才的不算。您想办什么，直接说就行。"
    return "好的，刚才的不算，什么都没办。您想办什么？直接说，或回复数字看菜单。"


def hours(elder: bool) -> str:
    """「你们几点下班」: the assistant never closes; people work their hours (the handoff says when)."""
    if elder:
        return "我一直都在。要人工，回复0；人工下班时，会约好时间给您回电话。"
    return "我是智能客服，24小时都在。人工客服按上班时间接待：回复0，我帮您联系；下班时会约好时间给您回电。"


def own_number(masked_phones: list[str]) -> str:
    if not masked_phones:
        return "您还没有在这里绑定号码。绑定后就能查话费和流量：请回复您的11位手机号。"
    return "您在这里绑定的号码：" + "、".join(masked_phones) + "。"


def nothing_pending() -> str:
    return "好的。还有什么可以帮您？回复数字看菜单。"


def service_unavailable() -> str:
    return "系统有点忙，暂时查不到。请稍后再试，或回复0转人工。"


# --- understanding: lists, clarifying questions, second requests, guidance --------------


def clarify(labels: list[str], elder: bool) -> str:
    options = " ".join(f"{number} {label}" for number, label in enumerate(labels, 1))
    if elder:
        return f"您是想：{options}？0 找人工"
    return f"我没太确定您的意思，您是想：\n{options}\n0 转人工\n请回复数字。"


def offer_second_request(label: str) -> str:
    return f"您还提到「{label}」，回复1马上帮您办，回复2不用了。"


def second_request_later(label: str) -> str:
    return f"您还提到「{label}」，这件办完后再跟我说一声就行。"


def emoji_reply(elder: bool) -> str:
    if elder:
        return "收到您的表情啦！查话费回复1，找人工回复0。"
    return "收到您的表情啦😊 有什么可以帮您？回复数字看菜单，或直接说您的问题。"


def not_suspended_for_real_name(elder: bool) -> str:
    """Her line works; a notice about the real-name check may still have reached her."""
    if elder:
        return "您的号码正常，没有因为实名停机。收到实名通知的话，带身份证到营业厅办就行。"
    return (
        "您的号码正常使用，没有因实名未核验停机。\n"
        "收到实名核验通知的话，带身份证到营业厅，或在营业厅APP「实名核验」办理即可。"
    )


def real_name_suspension(elder: bool) -> str:
    if elder:
        return "实名核验停机：请带身份证到营业厅，当场就能复机。需要人工帮您，回复0。"
    return (
        "号码因实名信息未核验停机，核验后即可复机：\n"
        "1. 本人带身份证到任一营业厅办理，当场复机；\n"
        "2. 或在营业厅APP「实名核验」上传身份证并刷脸，通过后2小时内复机。\n"
        "这不是故障，无需报修。需要人工帮您，回复0。"
    )


def low_balance_help(b: Balance, elder: bool) -> str:
    text = balance(b, elder)
    if b.arrears_fen > 0:  # the balance already offers the top-up that clears it
        return text
    return f"{text}\n钱不够用可以充话费：回复3，我帮您充。"


def voice_reply_unavailable() -> str:
    """Voice replies switched off by the operator (VOICE_REPLIES=0)."""
    return "暂时还不能用语音回复您，我先用文字回复。需要人工打电话给您，回复0。"


# How a reply names the relative she named: 「我妈」 is 「您妈妈」, not 「您妈」.
KIN_IN_A_REPLY = {"妈": "妈妈", "爸": "爸爸", "娃": "孩子", "老头子": "老伴", "老太婆": "老伴", "老汉": "老伴"}


def _whose(relative: str | None) -> str:
    return f"您{KIN_IN_A_REPLY.get(relative, relative)}" if relative else "家人"


def ask_relative_how_to_bind(relative: str | None) -> str:
    who = _whose(relative)
    return f"可以帮您查{who}的号码，要先绑定：\n请回复{who}的11位手机号，验证码会发到{who}的手机上，请{who}告诉您。"


CHOICES_SHOWN = MAX_LINES - 2  # a numbered choice: a question line, the options, a closing line


def relative_needs_binding(masked_phone: str) -> str:
    return f"查{masked_phone}要先绑定这个号码：验证码会发到这个号码上，请家人告诉您。"


def choose_bound_number(masked: list[str]) -> str:
    """Which bound number to look at; beyond a screen, the others are named by their number."""
    if len(masked) <= CHOICES_SHOWN:
        options = [f"{number} {phone}" for number, phone in enumerate(masked, 1)]
        return "\n".join(["您绑定了这些号码，查哪一个？", *options, "请回复数字。"])
    options = [f"{number} {phone}" for number, phone in enumerate(masked[: CHOICES_SHOWN - 1], 1)]
    left = len(masked) - len(options)
    return "\n".join(
        ["您绑定了这些号码，查哪一个？", *options, f"还有{left}个号码，可直接回复完整手机号。", "请回复数字。"]
    )


def about_number(masked_phone: str, text: str) -> str:
    return f"号码{masked_phone}：{text}"


def operator_topic(elder: bool) -> str:
    if elder:
        return "这个要人工帮您办。"
    return "这项业务我这里办不了，需要人工客服帮您办理。"


# Why she was handed to a person, first in the agent's summary.
HANDOFF_LABELS = {
    HandoffReason.REQUEST_HUMAN: "用户要求人工",
    HandoffReason.CANNOT_COPE: "用户表示不会用/看不懂",
    HandoffReason.FALLBACK: "机器人连续两次没听懂",
    HandoffReason.ELDER: "年长客户",
    HandoffReason.NEEDS_IN_PERSON: "需营业厅实名办理",
    HandoffReason.COMPLAINT: "用户投诉",
    HandoffReason.DISPUTE: "费用异议，请核实扣费",
    HandoffReason.OPERATOR_TOPIC: "机器人办不了的业务",
    HandoffReason.LOST_PHONE: "手机丢失/被盗，需尽快挂失",
}


def sorry_not_helped(elder: bool) -> str:
    if elder:
        return "让您跑了好几趟，对不起。我请人工马上帮您。"
    return "很抱歉让您多次联系还没解决。我请人工客服直接处理。"


def number_misused(elder: bool) -> str:
    """Her number may be in someone else's hands: the one safe habit first, then a person."""
    if elder:
        return "验证码千万别告诉别人。我请人工帮您查查号码。"
    return "验证码不要告诉任何人。号码是否被别人使用，需要人工客服帮您核查。"


def bereaved() -> str:
    """A relative's line after a death: a person handles it, said gently."""
    return "请节哀。家人号码的过户、销户需要人工客服帮您办理。"


def call_back_not_kept(elder: bool) -> str:
    if elder:
        return "说好的电话没打给您，对不起。我请人工马上跟您联系。"
    return "很抱歉，答应给您回电却没做到。我请人工客服直接处理。"


def hotline_unreachable(elder: bool) -> str:
    if elder:
        return "让您久等了，对不起。我帮您找人工。"
    return "抱歉让您久等了，我在这里帮您转人工客服。"


def i_am_the_assistant(elder: bool) -> str:
    if elder:
        return "我是自动回复的小助手，不是真人。找人工请回复0。"
    return "我是智能客服小助手，不是真人，查话费、流量、充值、套餐都可以直接问我。需要人工请回复0。"


def five_g_phone(elder: bool) -> str:
    if elder:
        return "办5G套餐不用换手机，现在的手机也能用。想用5G网速才要5G手机。"
    return "办5G套餐不用换手机：4G手机也能用套餐里的流量和通话，只是网速还是4G的；想用5G网络，需要支持5G的手机。"


def price_beyond_plan(elder: bool) -> str:
    """「流量用完了会怎么样」: the standard rates beyond any plan (billing/tariff.py)."""
    data, minute = format_yuan(OVERAGE_FEN_PER_STARTED_GB), format_yuan(OVERAGE_FEN_PER_MINUTE)
    if elder:
        return f"套餐用完后：流量每多用1GB收{data}，不满1GB按1GB收；电话每分钟{minute}。"
    return (
        f"超出套餐后按用量收费：流量{data}/GB（不足1GB按1GB算），通话{minute}/分钟。\n"
        "常常超出的话，换个大一点的套餐更划算，回复“推荐套餐”看看。"
    )


def why_bind(elder: bool) -> str:
    """Binding refused: why the number is proven, and what needs no binding."""
    if elder:
        return "绑定是为了确认是您本人，别人查不到您的话费。不绑也能问套餐和资费；要人工帮忙，回复0。"
    return (
        "绑定是用短信验证码确认号码是您本人的，这样别人查不到您的话费和流量。\n"
        "不绑定也可以问套餐、资费等问题；需要人工，回复0。"
    )


def service_began(s: Subscription, elder: bool) -> str:
    """「彩铃是什么时候开的」: the day it began on her line and what it costs."""
    fee, since = format_yuan(s.service.monthly_fee_fen), f"{s.since.year}年{_day(s.since)}"
    if elder:
        return f"{s.service.name}是{since}开的，每月{fee}。"
    return f"{s.service.name}是{since}开通的，每月{s.renew_day}日扣{fee}。"


def service_began_how_to_cancel(s: Subscription, contested: bool) -> str:
    """After `service_began`: cancelling it in her own words; when she says it was not hers, the
    offer to have it checked (a dispute is not answered with a transaction to confirm)."""
    cancel = f"不想要可以说“退订{s.service.name}”。"
    return f"{cancel}\n不是您开的？{DISPUTE_OFFER}" if contested else cancel


def never_used_refund() -> str:
    return "没用过却扣了的钱，退订后回复“投诉”，专人核实退费。"


def when_balance_runs_out(elder: bool) -> str:
    """「余额用完了会怎么样」: an arrears suspension, lifted by a top-up that clears the debt."""
    if elder:
        return "话费用完了会停机，打不了电话。充上钱就能恢复。"
    return "话费用完后会欠费停机，电话和上网都用不了；充值到不欠费，就自动恢复。"


def allowance_left(u: Usage) -> str:
    return f"您本月流量还剩{format_data(u.data_left_mb)}，通话还剩{u.voice_left_minutes}分钟。"


def no_promotions(elder: bool) -> str:
    """「有没有什么优惠活动」: the assistant has no list of them; what it can do to save her money."""
    if elder:
        return "我这里查不到优惠活动。想省钱，回复“推荐套餐”，我按您的用量帮您挑。"
    return (
        "我这里查不到优惠活动的信息，最新活动可以问营业厅或客服热线。\n"
        "想省钱：回复“推荐套餐”，按您的用量挑更划算的套餐；积分能兑换礼品，回复“积分”查看。"
    )


def how_charged(charges: list[Charge], current: str, elder: bool) -> str:
    """「我每个月的话费是怎么扣的」: the plan's fee on its day, services by the month, usage beyond
    the plan at the standard rates; then what this month's deductions come to."""
    plan = next((c for c in charges if c.kind == ChargeKind.PLAN), None)
    services = [c for c in charges if c.kind == ChargeKind.SERVICE]
    day = f"每月{plan.date.day}日" if plan is not None and plan.date else "每月初"
    fee = f"{plan.name}{format_yuan(plan.amount_fen)}" if plan is not None else "套餐月费"
    total = format_yuan(sum(c.amount_fen for c in charges))
    if elder:
        parts = [f"{day}扣{fee}"]
        if services:
            parts.append(
                "开的业务每月扣（" + "、".join(f"{c.name}{format_yuan(c.amount_fen)}" for c in services) + "）"
            )
        parts.append("超出套餐的按用量扣")
        return "，".join(parts) + f"。这个月已扣{total}。"
    lines = ["话费这样扣：", f"· {day}扣{fee}"]
    if services:
        lines.append("· 已开的业务按月扣：" + "、".join(f"{c.name}{format_yuan(c.amount_fen)}" for c in services))
    lines.append(
        f"· 超出套餐的流量{format_yuan(OVERAGE_FEN_PER_STARTED_GB)}/GB、"
        f"通话{format_yuan(OVERAGE_FEN_PER_MINUTE)}/分钟，按用量扣"
    )
    lines.append(f"{month_name(current, current)}到目前共扣{total}。")
    return "\n".join(lines)


def lost_phone(elder: bool) -> str:
    if elder:
        return "手机丢了要赶紧挂失，免得被别人用。我请人工帮您办。"
    return "手机丢失请尽快挂失，以免被盗用。我为您转人工办理；也可以用其他电话拨打客服热线挂失。"


def ticket_status_unavailable() -> str:
    return "工单进度我这里还查不到，请人工客服帮您查。"


def complaint_taken(elder: bool) -> str:
    if elder:
        return "您的意见我们记下了。"
    return "您的投诉我们会认真处理，请把情况跟客服说一下。"


# --- charges, services, points, invoices ----------------------------------------------
# At most 8 lines each; a list shows SHOWN_ITEMS and then MORE_HINT (the rest on "更多").

SHOWN_ITEMS = 3
MORE_ITEMS = 6  # shown on "更多" (with a header line and a closing line: still 8 at most)
DISPUTE_OFFER = "1 登记投诉，专人核实 2 不用了"
MORE_HINT = '还有{n}项，回复"更多"查看全部。'
INVOICE_WHERE = "电子发票在营业厅APP「我的-发票」下载，未开具的也在那里申请开具。"


def month_name(month: str, current: str) -> str:
    """ "2026-10" -> "10月"; another year's month keeps its year: "2025年3月"."""
    name = f"{int(month[5:7])}月"
    return name if month[:4] == current[:4] else f"{int(month[:4])}年{name}"


def _day(date: dt.date) -> str:
    return f"{date.month}月{date.day}日"


def _more(left: int) -> list[str]:
    return [MORE_HINT.format(n=left)] if left > 0 else []


def bill_not_out(month: str, current: str, so_far_fen: int) -> str:
    text = f"{month_name(month, current)}的账单下月初才出。"
    if month == current and so_far_fen:
        text += f"本月到目前已扣费{format_yuan(so_far_fen)}。"
    return text


def no_bill(month: str, current: str) -> str:
    return f"没有查到您{month_name(month, current)}的账单。"


def charge_line(c: Charge) -> str:
    when = f"{_day(c.date)} " if c.date else ""
    return f"· {when}{c.name} {format_yuan(c.amount_fen)}"


def dispute_order(charges: list[Charge]) -> list[Charge]:
    """Value-added and one-off charges first, dearest first (what usually surprises), then the plan fee."""
    return sorted(charges, key=lambda c: (c.kind == ChargeKind.PLAN, -c.amount_fen, c.date or dt.date.min))


def dispute_this_month(charges: list[Charge], current: str, elder: bool) -> str:
    total = sum(c.amount_fen for c in charges)
    if not charges:
        head = [f"您{month_name(current, current)}到目前还没有扣费。"]
        return "\n".join(head + [DISPUTE_OFFER])
    ordered = dispute_order(charges)
    if elder:
        parts = "，".join(f"{c.name}{format_yuan(c.amount_fen)}" for c in ordered[:SHOWN_ITEMS])
        return f"本月已扣{format_yuan(total)}：{parts}。\n1 转人工核实 2 不用了"
    lines = [f"您{month_name(current, current)}到目前共扣费{format_yuan(total)}："]
    lines += [charge_line(c) for c in ordered[:SHOWN_ITEMS]]
    lines += _more(len(ordered) - SHOWN_ITEMS)
    if any(c.kind == ChargeKind.SERVICE for c in ordered):
        lines.append('增值业务不想要，可以说"退订+业务名"。')
    lines.append("有疑问吗？" + DISPUTE_OFFER)
    return "\n".join(lines)


def data_used_fast(u: Usage, elder: bool) -> str:
    """「流量怎么用得这么快」: her usage, what uses data most, then the offer to have it checked."""
    offer = "1 转人工核实 2 不用了" if elder else "觉得用量不对？" + DISPUTE_OFFER
    return "\n".join([usage(u, elder), "看视频、直播最费流量，手机后台自动更新也会用。", offer])


def top_ups_arrived(payments: list[Payment], b: Balance, elder: bool) -> str:
    """Her last top-ups that reached the line and her balance, then the offer to have one checked."""
    now = f"现在欠费{format_yuan(b.arrears_fen)}。" if b.arrears_fen else f"现在余额{format_yuan(b.balance_fen)}。"
    if not payments:
        head = ["没有查到您的充值到账记录。", now]
    elif elder:
        last = payments[0]
        head = [
            f"您最近一笔充值：{_day(last.paid_at.astimezone(LOCAL_TZ).date())}{format_yuan(last.amount_fen)}，已到账。",
            now,
        ]
    else:
        head = ["您最近到账的充值："]
        recent = payments[:SHOWN_ITEMS]
        head += [f"· {_day(p.paid_at.astimezone(LOCAL_TZ).date())} {format_yuan(p.amount_fen)}" for p in recent]
        head.append(now + "刚付款的一般几分钟内到账。")
    offer = "1 转人工核实 2 不用了" if elder else "没看到您那笔？" + DISPUTE_OFFER
    return "\n".join(head + [offer])


def dispute_bill(b: Bill, current: str, so_far_fen: int | None, elder: bool) -> str:
    """A completed month's bill, asked about in a dispute; `so_far_fen`: this month's, if wanted."""
    name = month_name(b.month, current)
    if not b.items:
        lines = [no_bill(b.month, current)]
    elif elder:
        parts = "，".join(f"{i.name}{format_yuan(i.amount_fen)}" for i in b.items[:SHOWN_ITEMS])
        lines = [f"{name}共{format_yuan(b.total_fen)}：{parts}。"]
    else:
        lines = [f"您{name}账单共{format_yuan(b.total_fen)}："]
        lines += [f"· {i.name} {format_yuan(i.amount_fen)}" for i in b.items[:SHOWN_ITEMS]]
        lines += _more(len(b.items) - SHOWN_ITEMS)
    if so_far_fen is not None and not elder:
        lines.append(f"本月到目前已扣{format_yuan(so_far_fen)}。")
    lines.append("1 转人工核实 2 不用了" if elder else "有疑问吗？" + DISPUTE_OFFER)
    return "\n".join(lines)


def months_before(bills: list[Bill], current: str) -> str:
    """「比平时多」: the months before, to set the one asked about against."""
    totals = "、".join(f"{month_name(b.month, current)}{format_yuan(b.total_fen)}" for b in bills if b.items)
    return f"之前：{totals}。" if totals else "之前的月份没有账单可比。"


def more_lines(lines: list[str], header: str, closing: str = "") -> str:
    """The rest of a list after "更多": at most MORE_ITEMS lines between a header and a closing line."""
    # The line that says how many are left takes the place of one item, so a screen holds it all.
    shown = lines[:MORE_ITEMS] if len(lines) <= MORE_ITEMS else lines[: MORE_ITEMS - 1]
    left = len(lines) - len(shown)
    tail = [f"还有{left}项，请在营业厅APP查看。"] if left > 0 else []
    return "\n".join([header, *shown, *tail] + ([closing] if closing else []))


def nothing_more() -> str:
    return "没有更多了。还有什么可以帮您？"


def dispute_offer_again() -> str:
    return "需要人工帮您核实扣费吗？请回复：" + DISPUTE_OFFER


def dispute_declined() -> str:
    return "好的。还有疑问随时找我，回复0转人工。"


# services


def service_line(s: Subscription, number: int | None = None) -> str:
    prefix = f"{number} " if number is not None else "· "
    return f"{prefix}{s.service.name} {format_yuan(s.service.monthly_fee_fen)}/月"


def no_services() -> str:
    return "您目前没有开通收费的增值业务。"


def service_list(services: list[Subscription], elder: bool) -> str:
    if not services:
        return no_services()
    total = sum(s.service.monthly_fee_fen for s in services)
    if elder:
        names = "、".join(s.service.name for s in services[:SHOWN_ITEMS])
        more = f"等{len(services)}项" if len(services) > SHOWN_ITEMS else ""
        return f"您开了{names}{more}，每月共{format_yuan(total)}。"
    lines = [f"您开通的增值业务（每月共{format_yuan(total)}）："]
    lines += [service_line(s) for s in services[:SHOWN_ITEMS]]
    lines += _more(len(services) - SHOWN_ITEMS)
    lines.append('不想要的可以说"退订+业务名"。')
    return "\n".join(lines)


# 「回复2取消」 read as 「取消这个业务」: for a cancellation, what each number does is said in words.
CANCEL_CHOICES = "回复1确认退订，回复2保留。"


def confirm_cancel_service(s: Subscription) -> str:
    return f"退订{s.service.name}（每月{format_yuan(s.service.monthly_fee_fen)}）？{CANCEL_CHOICES}"


def which_service(services: list[Subscription], asked: str | None, several: bool, elder: bool) -> str:
    """A numbered list to choose from (the first SHOWN_ITEMS; the rest on "更多")."""
    if several:
        head = "为免退错，请一项一项确认。要退订哪个？" if not elder else "要退哪个？"
    elif asked:
        head = f"没有找到您开通的「{asked[:10]}」。您开通了："
    else:
        head = "要退订哪个？您开通了："
    lines = [head]
    lines += [service_line(s, n) for n, s in enumerate(services[:SHOWN_ITEMS], start=1)]
    lines += _more(len(services) - SHOWN_ITEMS)
    lines.append("请回复数字或名称。")
    return "\n".join(lines)


def one_at_a_time(count: int) -> str:
    return f"您要退{count}项，为免退错，一项一项确认："


def which_service_again(count: int) -> str:
    return f"请回复1到{count}的数字，或业务名称；不退了回复「不用了」。"


def which_service_more(services: list[Subscription]) -> str:
    rest = [service_line(s, n) for n, s in enumerate(services, start=1)][SHOWN_ITEMS:]
    return more_lines(rest, "其余的业务：", "请回复数字或名称。")


def service_cancelled(s: Subscription, elder: bool) -> str:
    if elder:
        return f"{s.service.name}已退订，下月起不再扣钱。"
    return f"已退订{s.service.name}，下月起不再收费（本月已扣的月费不退）。"


def service_already_cancelled(s: Subscription) -> str:
    return f"{s.service.name}已经退订过了，不会再收费。"


def service_kept(s: Subscription | None) -> str:
    return f"好的，{s.service.name}继续保留。要退订，请再说“退订{s.service.name}”。" if s else "好的，业务不变。"


# points


def points(p: Points, rewards: list[PointsReward], elder: bool) -> str:
    if p.balance <= 0:
        return "您目前没有积分。每月按消费攒积分，可换话费、流量。"
    lines = [f"您有{p.balance}积分。"]
    if p.expiring and p.expires_on:
        lines[0] = f"您有{p.balance}积分，其中{p.expiring}分{_day(p.expires_on)}到期，记得兑换。"
    affordable = [r for r in rewards if r.points <= p.balance]
    if not affordable:
        if rewards:
            cheapest = rewards[0]
            lines.append(f"再攒{cheapest.points - p.balance}分可换{cheapest.name}。")
        return "\n".join(lines)
    if elder:
        best = affordable[-1]
        return f"{lines[0]}\n可换{best.name}（{best.points}分），到营业厅就能换。"
    picks = sorted(affordable, key=lambda r: r.points, reverse=True)[:SHOWN_ITEMS]
    lines.append("可以兑换：")
    lines += [f"· {r.name} {r.points}分" for r in picks]
    lines.append("在营业厅APP「积分商城」兑换。")
    return "\n".join(lines)


# invoices


def payment_line(p: Payment) -> str:
    when = _day(p.paid_at.astimezone(LOCAL_TZ).date())
    if p.invoice_status == InvoiceStatus.ISSUED and p.invoice_no:
        invoice = f"已开电子发票，号码{p.invoice_no}"
    else:
        invoice = "发票未开具"
    return f"· {when} 充值{format_yuan(p.amount_fen)}：{invoice}"


def invoices(payments: list[Payment], month: str | None, current: str, elder: bool) -> str:
    if not payments:
        where = f"{month_name(month, current)}" if month else "最近"
        return f"没有查到您{where}的充值记录。\n话费发票可在营业厅APP「我的-发票」开具。"
    if elder:
        first = payments[0]
        return payment_line(first)[2:] + "。\n发票在营业厅APP「发票」里下载，也可以到营业厅打印。"
    head = f"您{month_name(month, current)}的充值和发票：" if month else "您最近的充值和发票："
    lines = [head]
    lines += [payment_line(p) for p in payments[:SHOWN_ITEMS]]
    lines += _more(len(payments) - SHOWN_ITEMS)
    lines.append(INVOICE_WHERE)
    return "\n".join(lines)


def local_month(moment: dt.datetime) -> str:
    """The China calendar month ("2026-11") of an aware moment."""
    return f"{moment.astimezone(LOCAL_TZ):%Y-%m}"
