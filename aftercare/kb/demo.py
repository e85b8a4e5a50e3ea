"""The demo knowledge base of 华宁电器: troubleshooting for its air conditioners,
refrigerators, washing machines and water heaters, its 三包 and service policies, internal
spare-part standards, and the reply templates (话术) its agents use. Written for the demo;
the fault codes and periods follow the demo catalogue, not any real maker's manual."""

from django.db import transaction

from aftercare.accounts.models import User

from . import search, services
from .choices import ArticleType, Audience
from .models import Article, Category

CATEGORIES = [
    ("ac", "空调", "空調", "Air conditioners"),
    ("fridge", "冰箱", "冰箱", "Refrigerators"),
    ("washer", "洗衣机", "洗衣機", "Washing machines"),
    ("heater", "热水器", "熱水器", "Water heaters"),
    ("policy", "三包与服务政策", "三包與服務政策", "Warranty and service policies"),
    ("scripts", "话术模板", "話術模板", "Reply templates"),
]
SYNONYMS = [
    "不制冷\n不冷\n制冷效果差\n不凉",
    "漏水\n滴水\n渗水",
    "噪音大\n声音大\n异响",
    "三包\n保修\n质保",
    "不加热\n不出热水\n水不热",
    "结霜\n结冰",
    "not cooling\nno cold air\nweak cooling",
]
S, F, T, P, R = (
    ArticleType.SOLUTION,
    ArticleType.FAQ,
    ArticleType.SPARE_PART_STANDARD,
    ArticleType.POLICY,
    ArticleType.REPLY_TEMPLATE,
)
PUB, INT = Audience.PUBLIC, Audience.INTERNAL

# (category, type, audience, title, summary, keywords, body, other variants)
ARTICLES = [
    (
        "ac",
        S,
        PUB,
        "空调不制冷排查",
        "多数不制冷可以自己排查：模式、滤网、外机三处。",
        "不制冷, 制冷效果差, 滤网",
        "## 先自己检查\n\n1. 遥控器是否在**制冷**模式，设定温度是否低于室温 2 ℃ 以上。\n"
        "2. 取下室内机滤网，用清水冲洗、阴干后装回；滤网堵塞是最常见的原因。\n"
        "3. 看室外机风扇是否转动，周围 50 厘米内不要堆放杂物。\n\n"
        "## 仍然不制冷\n\n开机 15 分钟后出风口仍不凉，或室外机不转，请提交报修，"
        "工程师会上门检测冷媒压力。保修期内上门和检测免费。",
        {
            "zh-hant": (
                "空調不製冷排查",
                "1. 遙控器是否在製冷模式。\n2. 清洗濾網。\n3. 檢查室外機是否運轉。\n\n"
                "仍不製冷請提交報修，保修期內上門免費。",
            ),
            "en": (
                "Air conditioner not cooling",
                "1. Check that the remote is in **cool** mode and set below room temperature.\n"
                "2. Rinse the filter and let it dry before refitting.\n"
                "3. Make sure the outdoor unit's fan turns and nothing blocks it.\n\n"
                "Still no cold air after 15 minutes? Book a repair: the visit is free within "
                "the warranty period.",
            ),
        },
    ),
    (
        "ac",
        S,
        PUB,
        "空调显示 E1 故障码",
        "E1 表示室内机和室外机之间通讯中断。",
        "E1, 故障码, 通讯故障",
        "E1 表示室内机收不到室外机的信号。\n\n1. 关闭空调并拔掉电源（或断开空气开关）五分钟，"
        "再开机。\n2. 若刚移机或装修过，可能是连接线松动，请不要自行拆机。\n\n"
        "重启后仍显示 E1，请提交报修并注明“E1”，工程师会携带通讯板上门。",
        {
            "en": (
                "Air conditioner shows error E1",
                "E1 means the indoor unit lost contact with the outdoor unit. Switch off the "
                "power for five minutes and restart. If E1 comes back, book a repair.",
            )
        },
    ),
    (
        "ac",
        S,
        PUB,
        "空调室内机漏水",
        "漏水多半是排水管堵塞或安装倾斜。",
        "漏水, 滴水, 排水管",
        "1. 检查室内机下方排水管是否被压扁、打折，出水口是否被泥沙堵住。\n"
        "2. 用水平尺看室内机是否向排水管一侧略低。\n3. 清洗滤网，滤网太脏会让蒸发器结霜后化水。\n\n"
        "仍然漏水请停止使用并报修，避免泡坏墙面和地板。",
        {},
    ),
    (
        "ac",
        F,
        PUB,
        "空调外机噪音大正常吗",
        "启动和除霜时的声音正常，持续的金属撞击声需要检修。",
        "噪音大, 异响, 外机",
        "- 开机、停机时的“咔嗒”声、制热除霜时的“嘶嘶”流水声都属正常。\n"
        "- 持续的嗡嗡声或金属撞击声，多是外机支架松动或风扇碰到异物。\n\n"
        "请不要自行攀爬外机。持续异响请报修，高空作业由持证工程师完成。",
        {},
    ),
    (
        "ac",
        F,
        PUB,
        "空调遥控器失灵",
        "先换电池，再检查接收窗。",
        "遥控器, 失灵",
        "1. 更换两节新的 7 号电池。\n2. 对准室内机显示屏右侧的接收窗，距离不超过 6 米。\n"
        "3. 按住“开/关”键，用手机摄像头看遥控器前端是否闪光；不闪光说明遥控器损坏，"
        "可在官方商城购买原装遥控器。",
        {},
    ),
    (
        "ac",
        S,
        PUB,
        "空调制热慢、出风不热",
        "冬季制热前几分钟不出风属防冷风保护。",
        "不制热, 制热效果, 除霜",
        "开机后 3–5 分钟不出风是防冷风保护；室外温度低于 -7 ℃ 时制热能力会下降，"
        "外机会定时除霜，期间室内机暂停出风。\n\n清洗滤网、关好门窗后半小时仍不热，请报修。",
        {},
    ),
    (
        "ac",
        T,
        INT,
        "空调补加冷媒判定标准",
        "仅在压力测试确认低于标准值时补加，且必须查漏。",
        "冷媒, 加氟, 漏氟, 压力",
        "| 机型 | 标准低压（制冷） |\n|---|---|\n| KFR-26GW / 35GW | 0.9–1.1 MPa |\n"
        "| KFR-50LW / 72LW | 1.0–1.2 MPa |\n\n- 低于下限：先查漏（焊点、喇叭口、蒸发器），"
        "修复后抽真空再定量加注。\n- 不得只加冷媒不查漏；首次安装一年内漏氟按质量问题免费处理。\n"
        "- 工单中记录压力值和加注量。",
        {},
    ),
    (
        "ac",
        T,
        INT,
        "空调压缩机更换标准",
        "保修期内压缩机故障免费更换，需上传绝缘与电流检测数据。",
        "压缩机, 备件, 更换",
        "更换条件：绕组绝缘电阻低于 2 MΩ、卡缸或电流超过额定值 30%。\n\n"
        "1. 上传检测照片和数据后由技术支持审批备件。\n2. 旧压缩机寄回质量部，快递单号填入工单。\n"
        "3. 压缩机保修 3 年（整机 1 年），超出期限按价目表收费。",
        {},
    ),
    (
        "fridge",
        S,
        PUB,
        "冰箱冷藏室不制冷",
        "冷藏室不凉，先看温控设置和门是否关严。",
        "冷藏室, 不制冷, 门封条",
        "1. 检查冷藏室温度是否设在 2–5 ℃，是否误开了“假日模式”。\n"
        "2. 门是否关严：夹一张纸关门，能轻松抽出说明门封条漏气。\n"
        "3. 冷藏室后壁出风口不要被食物挡住。\n4. 背部与墙保持 10 厘米以上散热空间。\n\n"
        "冷冻正常而冷藏不凉，可能是风门故障，请报修。",
        {},
    ),
    (
        "fridge",
        S,
        PUB,
        "冰箱冷冻室结霜严重",
        "频繁开门、门封不严会让冷冻室结霜。",
        "结霜, 结冰, 化霜",
        "直冷冰箱结霜属正常，霜厚超过 5 毫米时请断电化霜。风冷冰箱不应结霜，"
        "若出现大量结霜，多为化霜加热器故障，请报修。\n\n化霜时不要用尖锐工具铲冰。",
        {
            "zh-hant": (
                "冰箱冷凍室結霜嚴重",
                "直冷冰箱結霜屬正常，霜厚超過 5 毫米時請斷電化霜。風冷冰箱大量結霜請報修。",
            )
        },
    ),
    (
        "fridge",
        S,
        PUB,
        "冰箱显示 E6 通讯故障",
        "E6 表示显示板与主控板通讯异常。",
        "E6, 故障码, 通讯故障",
        "断电五分钟后重新通电。若仍显示 E6，请报修，工程师会检查门铰链处的连接线。",
        {},
    ),
    (
        "fridge",
        F,
        PUB,
        "冰箱有异味怎么办",
        "异味多来自食物和排水孔。",
        "异味, 除味, 清洁",
        "1. 清理过期食物，生熟分开密封。\n2. 用温水加少量小苏打擦洗内胆。\n"
        "3. 疏通冷藏室后壁的排水孔。\n\n不要用酒精或含氯清洁剂擦拭内胆。",
        {},
    ),
    (
        "fridge",
        T,
        INT,
        "冰箱门封条更换标准",
        "门封条变形、开裂导致漏冷时更换。",
        "门封条, 备件",
        "- 夹纸测试两处以上能轻松抽出，或门封条开裂、发硬：更换。\n"
        "- 门封条属易损件，保修期 1 年；人为损坏按价目表收费。\n- 更换后用吹风机加热使其贴合。",
        {},
    ),
    (
        "washer",
        S,
        PUB,
        "洗衣机不排水（E21）",
        "E21 是排水超时，多半是排水泵过滤器堵了。",
        "不排水, E21, 排水泵",
        "1. 断电，在机器右下角打开排水泵盖板，下面垫好毛巾和盆。\n"
        "2. 逆时针拧出过滤器，清理硬币、纽扣、发卡等异物。\n3. 检查排水管是否打折或高于 1 米。\n\n"
        "清理后仍显示 E21，请报修。",
        {
            "en": (
                "Washing machine not draining (E21)",
                "E21 means the drain timed out. Unplug the machine, open the pump cover at the "
                "bottom right and clear coins or buttons from the filter.",
            )
        },
    ),
    (
        "washer",
        S,
        PUB,
        "洗衣机脱水时震动大",
        "新机先拆运输螺栓，再调平。",
        "震动, 脱水, 运输螺栓",
        "1. 新机必须拆除背部 4 颗运输螺栓。\n2. 调节底脚使机身水平、四脚着地。\n"
        "3. 单独洗厚重衣物（如被子）时容易偏心，可加几件毛巾平衡。",
        {},
    ),
    (
        "washer",
        F,
        PUB,
        "洗衣机门锁打不开",
        "程序结束后门锁延时约两分钟解锁。",
        "门锁, 打不开, E30",
        "程序结束后等待两分钟；筒内有水时门锁不会打开，请先运行“单脱水”。"
        "显示 E30 表示门锁异常，请报修，不要强行拉门。",
        {},
    ),
    (
        "washer",
        T,
        INT,
        "滚筒洗衣机排水泵更换标准",
        "排水泵线圈阻值异常或叶轮破损时更换。",
        "排水泵, 备件",
        "- 线圈阻值应为 150–200 Ω，超出范围更换。\n- 叶轮破损、卡死且清理后无法恢复：更换。\n"
        "- 异物导致的堵塞不属于质量问题，上门清理按 50 元收取服务费。",
        {},
    ),
    (
        "heater",
        S,
        PUB,
        "燃气热水器不点火（E1）",
        "E1 是点火失败，先查燃气阀门和电池。",
        "不点火, E1, 燃气",
        "1. 确认燃气表阀门和热水器进气阀已打开，燃气未欠费。\n2. 更换点火电池（1 号电池）。\n"
        "3. 冬季首次使用可多试几次排出管道空气。\n\n闻到燃气味请立即关闭阀门、开窗通风，"
        "不要开关电器，并拨打燃气公司电话。",
        {},
    ),
    (
        "heater",
        S,
        PUB,
        "电热水器不加热",
        "先看电源和温度设置，再看是否跳了漏电保护。",
        "不加热, 不出热水, 水不热",
        "1. 检查插座是否通电，漏电保护插头上的指示灯是否亮。\n2. 温度是否设得过低。\n"
        "3. 加热指示灯不亮且重新通电无效，可能是加热管或温控器故障，请报修。",
        {},
    ),
    (
        "heater",
        F,
        PUB,
        "电热水器镁棒多久换一次",
        "一般 1–2 年检查一次，水质硬的地区每年更换。",
        "镁棒, 除垢, 保养",
        "镁棒保护内胆不被腐蚀。建议每年预约一次保养，工程师检查镁棒并排污除垢。"
        "镁棒属于耗材，不在三包免费范围内。",
        {},
    ),
    (
        "heater",
        S,
        INT,
        "热水器漏电保护跳闸处理规范",
        "漏电跳闸必须上门检测，不得远程指导复位。",
        "漏电保护, 跳闸, 安全",
        "漏电保护跳闸涉及人身安全：\n\n1. 客服不得指导客户反复复位或拆除漏电保护插头。\n"
        "2. 工单优先级设为紧急，24 小时内上门。\n3. 工程师测量加热管对地绝缘电阻，"
        "低于 2 MΩ 更换加热管，并检查接地。",
        {},
    ),
    (
        "policy",
        P,
        PUB,
        "三包退换货政策",
        "7 天可退、15 天可换、保修期内免费维修。",
        "三包, 退货, 换货, 保修",
        "依据《部分商品修理更换退货责任规定》：\n\n- 自购买次日起 **7 天内**出现性能故障，"
        "可选择退货、换货或修理。\n- **15 天内**出现性能故障，可选择换货或修理。\n"
        "- 保修期内（整机一般 1 年，主要部件见保修卡）免费维修。\n\n"
        "办理时请提供发票或电子订单和完整包装。人为损坏、自行拆修不在三包范围内。",
        {
            "zh-hant": (
                "三包退換貨政策",
                "購買次日起 7 天內性能故障可退貨，15 天內可換貨，保修期內免費維修。",
            ),
            "en": (
                "Returns and exchanges (三包)",
                "Within 7 days of purchase a faulty unit may be returned, within 15 days "
                "exchanged, and it is repaired free during the warranty period.",
            ),
        },
    ),
    (
        "policy",
        P,
        PUB,
        "保修期与保修凭证",
        "保修期从发票日期次日起算。",
        "保修期, 发票, 保修卡",
        "保修期自发票或电子订单日期的次日起计算。没有凭证时，按出厂日期顺延 3 个月计算。"
        "凭序列号可在“三包查询”页面查看您的机器还在不在保修期内。",
        {},
    ),
    (
        "policy",
        P,
        PUB,
        "上门安装与收费标准",
        "标准安装免费，超出部分按价目表收费。",
        "安装, 收费, 移机",
        "| 项目 | 费用 |\n|---|---|\n| 标准安装 | 免费 |\n| 加长铜管 | 80 元/米 |\n"
        "| 空调支架 | 120 元 |\n| 移机 | 200 元起 |\n\n工程师收费须出示价目表并开具收据。",
        {},
    ),
    (
        "policy",
        P,
        PUB,
        "以旧换新补贴规则",
        "旧机回收后按品类补贴，安装完成后发放。",
        "以旧换新, 补贴, 回收",
        "购买新机时登记旧机，送货时由师傅回收。补贴在新机安装完成后 7 个工作日内原路退回。",
        {},
    ),
    (
        "policy",
        P,
        PUB,
        "延保服务说明",
        "延保期内维修免人工费和配件费。",
        "延保, 保修",
        "整机保修期结束前可购买 1–3 年延保。延保期内维修免收人工费和配件费，每年可免费保养一次。",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "受理确认话术",
        "新工单首次回复。",
        "受理, 确认",
        "{{ customer.name }}您好，您的服务请求已受理，工单号 {{ ticket.number }}。"
        "我们会在 {{ ticket.due_at }} 前与您联系，请保持电话畅通。——{{ agent.name }}",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "上门预约话术",
        "确认上门时间。",
        "上门, 预约",
        "{{ customer.name }}您好，关于您的 {{ unit.product_name }}（序列号 "
        "{{ unit.serial|default:'未登记' }}），工程师将按您预约的时段上门，"
        "上门前会提前电话联系。工单号 {{ ticket.number }}。",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "保修期内免费维修话术",
        "告知在保修期内。",
        "保修, 免费",
        "{{ customer.name }}您好，经查询您的 {{ unit.model_number }} 购买于 "
        "{{ unit.purchase_date }}，保修至 {{ unit.warranty_until }}，本次维修免费。",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "超出保修期收费告知话术",
        "保修期外先报价。",
        "收费, 过保",
        "{{ customer.name }}您好，您的 {{ unit.product_name }} 保修已于 "
        "{{ unit.warranty_until }} 到期。本次维修会收取费用，工程师检测后先报价，"
        "您确认后再维修。",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "退换货审核通过话术",
        "通知客户换货已批准。",
        "退货, 换货",
        "{{ customer.name }}您好，您的工单 {{ ticket.number }} 已审核通过，"
        "物流人员会在 2 个工作日内上门取件，请保留完整包装。",
        {},
    ),
    (
        "scripts",
        R,
        INT,
        "安抚投诉客户话术",
        "客户情绪激动时。",
        "投诉, 安抚",
        "{{ customer.name }}您好，非常抱歉给您带来不便。您反映的问题（{{ ticket.subject }}）"
        "我已升级给主管处理，今天内会有专人回复您。",
        {},
    ),
]


@transaction.atomic
def seed_knowledge_base() -> int:
    """Write the demo articles (published by the demo team lead), two unfinished drafts,
    the categories and the synonym groups, then build the search index. Adds nothing when
    articles exist."""
    if Article.objects.exists():
        return 0
    lead = User.objects.filter(username="lead").first()
    agent = User.objects.filter(username="agent").first()
    categories = {}
    for position, (slug, name, hant, english) in enumerate(CATEGORIES):
        categories[slug], _ = Category.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "name_hant": hant, "name_en": english, "position": position},
        )
    for phrases in SYNONYMS:
        services.create_synonym_group(actor=None, phrases=phrases)
    for slug, type, audience, title, summary, keywords, body, variants in ARTICLES:
        article = services.create_article(
            actor=agent,
            type=type,
            audience=audience,
            language="zh-hans",
            title=title,
            summary=summary,
            keywords=keywords,
            body=body,
            category=categories[slug],
        )
        for language, (other_title, other_body) in variants.items():
            services.save_article_version(
                actor=agent, article=article, language=language, title=other_title, body=other_body
            )
        services.submit_article_for_review(actor=agent, article=article)
        services.publish_article(actor=lead, article=article)
    waiting = services.create_article(
        actor=agent,
        type=ArticleType.SOLUTION,
        audience=Audience.PUBLIC,
        language="zh-hans",
        title="冰箱显示 E2 温度传感器故障",
        body="E2 表示冷藏室温度传感器异常，请断电重启；仍显示 E2 请报修。",
        category=categories["fridge"],
    )
    services.submit_article_for_review(actor=agent, article=waiting, note="请主管审核")
    services.create_article(
        actor=agent,
        type=ArticleType.FAQ,
        audience=Audience.PUBLIC,
        language="zh-hans",
        title="洗衣机进水慢",
        body="检查水龙头是否全开，进水阀滤网是否堵塞。（草稿，待补充图片）",
        category=categories["washer"],
    )
    search.rebuild_index()
    return len(ARTICLES)
