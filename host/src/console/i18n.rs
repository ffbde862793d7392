//! The console's message catalogue: every string a person reads, in
//! Chinese (zh-CN, the default) and English. A string is a [`Text`]; its
//! words are in [`Text::zh`] and [`Text::en`], so a string without a
//! translation does not compile.
//!
//! The language is the `hutong_lang` cookie (set by the switch on every
//! page), else the browser's `Accept-Language`, else Chinese.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};

use crate::kernel::manifest::Permission;

/// A language of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

/// The cookie that keeps the chosen language.
pub const LANG_COOKIE: &str = "hutong_lang";

impl Lang {
    /// The `lang` attribute of the page.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The language a `lang` parameter or cookie names.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Lang::Zh),
            "en" | "en-us" | "en-gb" => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The language of a request: its cookie, else the first of its
    /// `Accept-Language` the console speaks, else Chinese.
    pub fn of(headers: &HeaderMap) -> Lang {
        let cookie = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LANG_COOKIE)
            .and_then(|(_, value)| Lang::from_tag(value));
        if let Some(lang) = cookie {
            return lang;
        }
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|range| {
                let tag = range.split(';').next()?.trim().to_ascii_lowercase();
                match tag.split('-').next()? {
                    "zh" => Some(Lang::Zh),
                    "en" => Some(Lang::En),
                    _ => None,
                }
            })
            .next()
            .unwrap_or(Lang::Zh)
    }

    /// `text` in this language.
    pub fn t(self, text: Text) -> &'static str {
        match self {
            Lang::Zh => text.zh(),
            Lang::En => text.en(),
        }
    }
}

/// What a permission lets an app do, in plain words for the person who
/// grants it.
pub fn permission_sentence(lang: Lang, permission: Permission) -> &'static str {
    match (lang, permission) {
        (Lang::Zh, Permission::Kv) => "在平台上保存自己的数据（键值存储，有配额）",
        (Lang::Zh, Permission::ReadResidents) => {
            "读取数据范围内的居民记录，姓名、电话、身份证号等个人信息已脱敏"
        }
        (Lang::Zh, Permission::ReadPersonalFields) => {
            "读取居民的完整姓名、电话号码、身份证号和家属联系方式（不脱敏）"
        }
        (Lang::Zh, Permission::ReadHouseholds) => "读取住户（户）记录",
        (Lang::Zh, Permission::ReadBuildings) => "读取楼栋记录",
        (Lang::Zh, Permission::ReadOrganisations) => "读取组织（如党支部、志愿队）及其成员",
        (Lang::Zh, Permission::OpenCases) => "以应用的名义发起工单",
        (Lang::Zh, Permission::ReadOwnCases) => "查看自己发起的工单，并在工单变化时得到通知",
        (Lang::Zh, Permission::CommentCases) => "在自己发起的工单上留言",
        (Lang::Zh, Permission::NotifyInbox) => "向居民和工作人员的站内信箱发消息",
        (Lang::Zh, Permission::NotifySms) => "通过本辖区的短信网关发短信（产生费用）",
        (Lang::Zh, Permission::NotifyVoice) => "通过本辖区的语音网关拨打智能外呼电话（产生费用）",
        (Lang::Zh, Permission::NotifyWebhook) => "向本辖区配置的 Webhook 地址发送数据",
        (Lang::Zh, Permission::ReceiveEvents) => "接收清单中订阅的设备事件（门磁、烟感等）",
        (Lang::Zh, Permission::Schedules) => "按清单中的时间表定时运行",
        (Lang::En, Permission::Kv) => {
            "keep its own data on the platform (key-value storage, within quotas)"
        }
        (Lang::En, Permission::ReadResidents) => {
            "read the residents in its scope, with names, phone numbers and ID numbers masked"
        }
        (Lang::En, Permission::ReadPersonalFields) => {
            "read residents' full names, phone numbers, ID numbers and family contacts, unmasked"
        }
        (Lang::En, Permission::ReadHouseholds) => "read household records",
        (Lang::En, Permission::ReadBuildings) => "read building records",
        (Lang::En, Permission::ReadOrganisations) => {
            "read organisations (party branches, volunteer teams) and their members"
        }
        (Lang::En, Permission::OpenCases) => "open cases (work orders) in its own name",
        (Lang::En, Permission::ReadOwnCases) => {
            "read the cases it opened and be told when they change"
        }
        (Lang::En, Permission::CommentCases) => "comment on the cases it opened",
        (Lang::En, Permission::NotifyInbox) => "send messages to residents' and staff's inboxes",
        (Lang::En, Permission::NotifySms) => {
            "send text messages through the district's SMS gateway (this costs money)"
        }
        (Lang::En, Permission::NotifyVoice) => {
            "place voice calls through the district's voice gateway (this costs money)"
        }
        (Lang::En, Permission::NotifyWebhook) => "send data to the district's configured webhook",
        (Lang::En, Permission::ReceiveEvents) => {
            "receive the device events its manifest subscribes to (door sensors, smoke alarms …)"
        }
        (Lang::En, Permission::Schedules) => "run on the schedules its manifest declares",
    }
}

/// Every string of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// The product's name in the title bar.
    Product,
    /// The name of the other language, on the switch.
    SwitchTo,
    /// Sign-in page heading.
    SignInTitle,
    /// Label: account id.
    AccountId,
    /// Label: password.
    Password,
    /// Button: sign in.
    SignIn,
    /// Sign-in refused.
    WrongIdOrPassword,
    /// Sign-in throttled; followed by minutes.
    TooManyFailures,
    /// "minutes".
    Minutes,
    /// Link: set a password with a code.
    HaveACode,
    /// Set-password page heading.
    SetPasswordTitle,
    /// Explanation on the set-password page.
    SetPasswordHelp,
    /// Label: the code.
    Code,
    /// Label: new password.
    NewPassword,
    /// Label: repeat the new password.
    RepeatPassword,
    /// Button: set the password.
    SetPassword,
    /// The two new passwords differ.
    PasswordsDiffer,
    /// The code does not work.
    CodeRefused,
    /// The password breaks the rule.
    PasswordRule,
    /// Shown on the sign-in page after a password was set.
    PasswordSetSignIn,
    /// Home page heading.
    Welcome,
    /// What separates the greeting from the name.
    Comma,
    /// Label: role.
    Role,
    /// Label: district.
    District,
    /// No district (platform administrators).
    WholeCity,
    /// Button: sign out.
    SignOut,
    /// Link and heading: change password.
    ChangePasswordTitle,
    /// Label: current password.
    CurrentPassword,
    /// Button: change the password.
    ChangePassword,
    /// The current password was wrong.
    CurrentPasswordWrong,
    /// Shown after the password was changed.
    PasswordChanged,
    /// A form arrived without its token or from another site.
    FormRefused,
    /// Something failed on the host's side.
    HostFailed,
    /// A page that does not exist.
    NotFound,
    /// Link back to the start.
    BackHome,
    /// Role names.
    RolePlatformAdmin,
    /// Role name.
    RoleDistrictAdmin,
    /// Role name.
    RoleAuditor,
    /// Role name.
    RoleWorker,
    /// Role name.
    RoleResident,
    /// Page and link: the district's apps.
    Apps,
    /// Column: app.
    App,
    /// Column: version.
    Version,
    /// Column: status.
    Status,
    /// Status: serving.
    Active,
    /// Status: suspended.
    Suspended,
    /// Before the time a trial call is let through.
    TrialAfter,
    /// Button: suspend the app.
    Suspend,
    /// Button: resume the app.
    Resume,
    /// Link: open the app's pages.
    OpenApp,
    /// Column: what can be done.
    Actions,
    /// The district has no apps.
    NoApps,
    /// The reason recorded when suspending from the console.
    SuspendedInConsole,
    /// Shown after an app was suspended.
    AppSuspended,
    /// Shown after an app was resumed.
    AppResumed,
    /// The person may not see this page.
    NotAllowed,
    /// Link and title: the auditor's page of an install.
    Audit,
    /// Heading: what the app may do.
    MayDo,
    /// Column: a permission.
    Permission,
    /// Column: what a permission lets the app do.
    WhatItAllows,
    /// Column: the reason the publisher gave.
    PublisherReason,
    /// A permission granted.
    Granted,
    /// A permission asked for but not granted.
    NotGranted,
    /// Column: when a permission was last used.
    LastUsed,
    /// A permission never used.
    NeverUsed,
    /// Label: which communities the app sees.
    DataScope,
    /// The app sees the whole district.
    WholeDistrict,
    /// Heading: what the app did.
    DidDo,
    /// Heading: what was denied.
    WasDenied,
    /// Nothing was denied.
    NoDenials,
    /// Heading: grants never used.
    UnusedGrants,
    /// Every grant was used.
    AllGrantsUsed,
    /// Heading: whether the log is intact.
    IsIntact,
    /// Button: verify the log now.
    VerifyNow,
    /// What verifying checks.
    VerifyAbout,
    /// The log is intact; the count follows.
    LogIntact,
    /// The log was tampered with; the first problem follows.
    LogBroken,
    /// Column and filter: the host function called.
    Operation,
    /// Column and filter: allowed or denied.
    Outcome,
    /// Outcome: allowed.
    Allowed,
    /// Outcome: denied.
    Denied,
    /// Column and filter: which class of fields was returned.
    FieldClass,
    /// Field class: masked.
    Masked,
    /// Field class: personal fields unmasked.
    Personal,
    /// Filter: a record id.
    Record,
    /// Column: the records returned.
    Records,
    /// Filter: from this day.
    FromDay,
    /// Filter: up to and including this day.
    UntilDay,
    /// Filter: any value.
    AnyValue,
    /// Button: filter the log.
    ApplyFilter,
    /// Link: the next, older page.
    Older,
    /// Link: export as CSV.
    ExportCsv,
    /// Column: when.
    When,
    /// No entries match.
    NoEntries,
    /// The filter is not valid.
    BadFilter,
    /// Which clock times are shown in.
    TimesShown,
    /// Grants whose uses are not logged one by one.
    NotLogged,
    /// Title and link: install an app.
    InstallApp,
    /// Field: the registry.
    Registry,
    /// Field: the package and version requirement.
    Package,
    /// How to write a package.
    PackageHint,
    /// Button: show what the release asks for.
    ShowRelease,
    /// The release could not be resolved or verified.
    ReleaseRefused,
    /// The install was refused.
    InstallRefused,
    /// The upgrade was refused.
    UpgradeRefused,
    /// Heading: consent to install.
    InstallConsent,
    /// Heading: consent to upgrade.
    UpgradeConsent,
    /// Label: the version installed now.
    Installed,
    /// Label: the version to upgrade to.
    UpgradeTo,
    /// Label: the publisher's key.
    PublisherKey,
    /// Nothing newer matches.
    AlreadyNewest,
    /// The upgrade asks for no new permission.
    AddsNothing,
    /// Legend: permissions the new version adds.
    AddedPermissions,
    /// Permissions the new version drops.
    RemovedPermissions,
    /// Another publisher signed the new version.
    NewPublisherWarning,
    /// Checkbox: accept the new publisher.
    NewPublisherConsent,
    /// Button: upgrade.
    Upgrade,
    /// Legend: which permissions to grant.
    GrantWhich,
    /// Legend: narrow the app to communities.
    NarrowTo,
    /// The district has no communities yet.
    NoCommunities,
    /// Field: the install's configuration.
    Configuration,
    /// What the configuration is.
    ConfigurationHint,
    /// Button: install.
    Install,
    /// Button: roll back.
    Rollback,
    /// Shown after an install.
    AppInstalled,
    /// Shown after an upgrade.
    AppUpgraded,
    /// Shown after a rollback.
    AppRolledBack,
    /// Link: look for an upgrade.
    UpgradeLink,
    /// A change to an app was refused.
    ChangeRefused,
    /// Title and link: accounts.
    Accounts,
    /// Column and field: the name shown.
    DisplayName,
    /// An account that can sign in.
    Enabled,
    /// A disabled account.
    Disabled,
    /// Button: issue a set-password code.
    IssueCode,
    /// Button: issue an API token.
    IssueToken,
    /// Button: end the account's sessions.
    EndSessions,
    /// Button: disable the account.
    Disable,
    /// Heading: create an account.
    NewAccount,
    /// The rule for account ids.
    AccountIdHint,
    /// Field: the grids a worker serves.
    Grids,
    /// Field: the resident record of a resident's account.
    ResidentRecord,
    /// Field: a phone number for messages.
    Phone,
    /// Button: create the account.
    CreateAccount,
    /// Shown after an account was created.
    AccountCreated,
    /// Shown after an account was disabled.
    AccountDisabled,
    /// Shown after sessions were ended.
    SessionsEnded,
    /// An account change was refused.
    AccountRefused,
    /// Title: a set-password code was issued.
    CodeIssued,
    /// Title: an API token was issued.
    TokenIssued,
    /// A secret is shown this once.
    ShownOnce,
    /// Where to redeem a code.
    RedeemAt,
    /// Until when a secret works.
    ValidUntil,
    /// Title: the platform administrator's page.
    City,
    /// Heading: the districts.
    Districts,
    /// Column: a district's administrators.
    Administrators,
    /// A district without an administrator.
    NoAdministrator,
    /// Heading: create a district.
    NewDistrict,
    /// Field: a district's id.
    DistrictId,
    /// Field: a district's name.
    DistrictName,
    /// Field: the first administrator's account id.
    FirstAdministrator,
    /// Button: create the district.
    CreateDistrict,
    /// Shown after a district was created.
    DistrictCreated,
    /// Heading: every install of the city.
    AllInstalls,
    /// Label of the page navigation.
    Pages,
    /// Link: the next page.
    NextPage,
    /// Link: the previous page.
    PreviousPage,
    /// Title and button: uninstall an app.
    Uninstall,
    /// What uninstalling does.
    UninstallStops,
    /// Before what the app keeps.
    AppKeeps,
    /// Unit: kv keys.
    KvKeys,
    /// Unit: bytes.
    Bytes,
    /// Legend: what becomes of its data.
    ItsData,
    /// Choice: keep the data.
    KeepData,
    /// Choice: delete the data.
    DeleteData,
    /// Field: type the name to delete data.
    TypeTheName,
    /// Shown after an uninstall.
    AppUninstalled,
    /// A search stopped before a full page.
    SearchedTo,
    /// Link: search older entries.
    SearchOn,
    /// Title and link: community data.
    CommunityData,
    /// An import went through.
    Imported,
    /// Count: records created.
    Created,
    /// Count: records updated.
    Updated,
    /// An import was refused.
    ImportRefused,
    /// Column: a line of the file.
    Line,
    /// Column: what is wrong on a line.
    WhatIsWrong,
    /// Column: a kind of record.
    RecordKindColumn,
    /// Column: how many.
    Count,
    /// Link: export everything.
    ExportAll,
    /// Exports hold personal data.
    ExportHoldsPersonal,
    /// Heading: import a file.
    ImportFile,
    /// Field: the file's format.
    FileFormat,
    /// Format: JSON lines.
    JsonLines,
    /// Field: the file.
    File,
    /// Imports are all or nothing.
    ImportAllOrNothing,
    /// Button: import.
    Import,
    /// Title and link: the catalogue.
    Catalogue,
    /// Shown after a registry was added.
    RegistryAdded,
    /// Shown after a registry was removed.
    RegistryRemoved,
    /// A registry could not be read.
    RegistryUnreadable,
    /// The catalogue is empty.
    CatalogueEmpty,
    /// Column: versions.
    Versions,
    /// A trusted publisher key.
    KeyTrusted,
    /// A publisher key not trusted.
    KeyNotTrusted,
    /// Why a package cannot be installed: untrusted key.
    TrustFirst,
    /// Why a package cannot be installed: host API.
    NotForThisHost,
    /// Installed at the newest version.
    AlreadyNewestShort,
    /// Heading: the registries.
    Registries,
    /// No registries yet.
    NoRegistries,
    /// Button: remove.
    Remove,
    /// Button: add a registry.
    AddRegistry,
    /// Title and link: the district's settings.
    Settings,
    /// Shown after the gateways were saved.
    GatewaysSaved,
    /// Shown after a device was removed.
    DeviceRemoved,
    /// Title: a device's token.
    DeviceToken,
    /// A device token is shown once.
    DeviceTokenOnce,
    /// Heading: notification gateways.
    Gateways,
    /// Field: the SMS gateway URL.
    SmsGateway,
    /// Field: the voice gateway URL.
    VoiceGateway,
    /// Field: the webhook URL.
    WebhookUrl,
    /// Field: the signing secret.
    SigningSecret,
    /// Placeholder: a secret is set.
    SecretSet,
    /// Placeholder: no secret yet.
    SecretNotSet,
    /// The secret is never shown.
    SecretWriteOnly,
    /// Field: deliveries per install per minute.
    RatePerMinute,
    /// Button: save.
    Save,
    /// Heading: devices.
    Devices,
    /// Link: all devices.
    AllDevices,
    /// Link: offline devices only.
    OfflineOnly,
    /// No devices.
    NoDevices,
    /// Column and field: a device id.
    Device,
    /// Column: what a device is bound to.
    BoundTo,
    /// Status: online.
    Online,
    /// Status: offline.
    Offline,
    /// Button: a new token.
    NewToken,
    /// Heading: register a device.
    RegisterDevice,
    /// Field: a device's kind.
    DeviceKind,
    /// Field: a household record id.
    Household,
    /// Field: the heartbeat interval.
    Heartbeat,
    /// Button: register.
    Register,
    /// Title and link: case settings.
    CaseSettings,
    /// Shown after case settings were saved.
    CaseSettingsSaved,
    /// Heading and column: case categories.
    Categories,
    /// Field: a code.
    CodeField,
    /// Field: a name.
    Name,
    /// Field: a description.
    Description,
    CallerContact,
    Open311Section,
    Open311Explained,
    Open311PublicReads,
    Open311PrivateServices,
    /// Field: a display group.
    Group,
    /// Heading: departments.
    Departments,
    /// Field: a tier.
    Tier,
    /// Field: the unit a department serves.
    Unit,
    /// Field: a department's worker accounts.
    Members,
    /// Heading: deadlines.
    Deadlines,
    /// Column and field: priority.
    Priority,
    /// Column: minutes to accept.
    MinutesToAccept,
    /// Column: minutes to handle.
    MinutesToHandle,
    /// Column: minutes to verify.
    MinutesToVerify,
    /// Field: a category code or *.
    CategoryOrAll,
    /// Heading: the case policy.
    CasePolicy,
    /// Field: days a closed case may be reopened.
    ReopenDays,
    /// Checkbox: overdue cases escalate.
    AutoEscalate,
    /// Before an install's calls counted by this process.
    CallsSinceStart,
    /// Before the failed calls.
    FailedCalls,
    /// Heading: a worker's queue.
    CasesForWorker,
    /// Heading: a resident's own cases.
    CasesMine,
    /// Heading: every case of the district.
    CasesAll,
    /// Label: a case's state.
    CaseState,
    /// Label: a case's category.
    Category,
    /// Label: a grid.
    Grid,
    /// Label: a building.
    Building,
    /// Filter: every state.
    AnyState,
    /// Filter: cases still being worked on.
    OpenOnly,
    /// Heading: cases past their time limit.
    OverdueCases,
    /// Heading: the rest of the queue.
    OtherCases,
    /// No case to show.
    NoCases,
    /// Before a case's number.
    CaseNumber,
    /// Label: when a case was reported.
    ReportedAt,
    /// Label: where.
    Location,
    /// Label: the resident a case concerns.
    ResidentConcerned,
    /// Label: who has the case.
    AssignedTo,
    /// Nobody has the case yet.
    NotYetAssigned,
    /// Label: the time limit.
    DueBy,
    /// Heading: a case's history.
    History,
    /// Label: photos.
    Photos,
    /// Label: the resident's rating.
    Satisfaction,
    /// Heading: the actions the viewer may take.
    WhatNext,
    /// The viewer may take no action.
    NothingToDo,
    /// Label: the note an action needs.
    NoteLabel,
    /// Label: whom to dispatch to.
    AssigneeLabel,
    /// Help: how to write an assignee.
    AssigneeHint,
    /// Label: the rating, 1 to 5.
    SatisfactionLabel,
    /// Notice: the action was done.
    CaseChanged,
    /// Notice: a report was stored.
    CaseReported,
    /// Lead of a refused case action.
    CaseRefused,
    /// A staff member in a resident's view of the history.
    ActorStaff,
    /// The host in the history.
    ActorSystem,
    /// The viewer in the history.
    ActorYou,
    /// Before an app's name in the history.
    ActorApp,
    /// A case an app opened on the resident's behalf.
    OpenedForYou,
    /// Heading and link: report a problem.
    ReportProblem,
    /// Help on the report form.
    ReportHelp,
    /// Choice: no building.
    NoBuilding,
    /// Help: which photos are accepted.
    PhotosHint,
    /// Button: send the report.
    Submit,
    /// Lead of a refused report.
    ReportRefused,
    /// Heading and link: the inbox.
    Inbox,
    /// An empty inbox.
    NoMessages,
    /// Button: mark a message read.
    MarkRead,
    /// A message not yet read.
    Unread,
    /// Before when a message was read.
    ReadOn,
    /// Label: who sent a message.
    From,
    /// Heading and link: who read my data.
    WhoReadMyData,
    /// What the data view shows.
    ReadsHelp,
    /// Heading: an administrator's view of one resident's reads.
    ReadsOfResident,
    /// Label: who read.
    ReadBy,
    /// A person read.
    ByStaff,
    /// The operator read on the command line.
    ByOperator,
    /// Label: which record the read named.
    Through,
    /// Through the resident's own record.
    ThroughResident,
    /// Through the household's record.
    ThroughHousehold,
    /// Through an export of the whole district.
    ThroughDistrict,
    /// Personal fields were shown.
    ShownInFull,
    /// No personal fields were involved.
    NoPersonalFields,
    /// Nobody has read the data.
    NoReads,
    /// A resident account without a record.
    NoResidentRecord,
    /// Label: a resident's id.
    ResidentId,
    /// Button: show a resident's reads.
    ShowReads,
    /// Heading: the apps' own pages.
    AppPages,
    /// State.
    StateReported,
    /// State.
    StateRejected,
    /// State.
    StateAccepted,
    /// State.
    StateDispatched,
    /// State.
    StateInProgress,
    /// State.
    StateHandled,
    /// State.
    StateVerified,
    /// State.
    StateClosed,
    /// Action.
    ActAccept,
    /// Action.
    ActReject,
    /// Action.
    ActDispatch,
    /// Action.
    ActReassign,
    /// Action.
    ActStart,
    /// Action.
    ActHandle,
    /// Action.
    ActVerify,
    /// Action.
    ActFailVerification,
    /// Action.
    ActClose,
    /// Action.
    ActReopen,
    /// Action.
    ActEscalate,
    /// Action.
    ActComment,
    /// Action.
    ActEvaluate,
    /// History: the report.
    ActReport,
    /// History: a time limit ran out.
    ActOverdue,
    /// Priority.
    PriorityLow,
    /// Priority.
    PriorityNormal,
    /// Priority.
    PriorityHigh,
    /// Priority.
    PriorityUrgent,
    /// Tier.
    TierGrid,
    /// Tier.
    TierCommunity,
    /// Tier.
    TierStreet,
    /// Tier.
    TierDistrict,
    /// Tier.
    TierCity,
    /// Operation: one resident read.
    OpGetResident,
    /// Operation: a search of residents.
    OpQueryResidents,
    /// Operation: an organisation's members.
    OpListMembers,
    /// Operation: one household read.
    OpGetHousehold,
    /// Operation: households listed.
    OpListHouseholds,
    /// Operation: a person read residents.
    OpStaffRead,
    OpReadCaseContact,
    /// Operation: the district exported.
    OpExport,
    /// Operation: a message sent.
    OpNotify,
}

impl Text {
    /// The Chinese words.
    pub fn zh(self) -> &'static str {
        match self {
            Text::Product => "胡同 · 智慧社区平台",
            Text::SwitchTo => "English",
            Text::SignInTitle => "登录",
            Text::AccountId => "账号",
            Text::Password => "密码",
            Text::SignIn => "登录",
            Text::WrongIdOrPassword => "账号或密码错误。",
            Text::TooManyFailures => "登录失败次数过多，请稍后再试。可再次尝试的时间：",
            Text::Minutes => "分钟后",
            Text::HaveACode => "首次登录或忘记密码？使用管理员给您的设置密码码",
            Text::SetPasswordTitle => "设置密码",
            Text::SetPasswordHelp => {
                "请输入管理员给您的一次性设置密码码，并设置新密码（至少 10 个字符）。设置后，您在其他设备上的登录会被退出。"
            }
            Text::Code => "设置密码码",
            Text::NewPassword => "新密码",
            Text::RepeatPassword => "再次输入新密码",
            Text::SetPassword => "设置密码",
            Text::PasswordsDiffer => "两次输入的新密码不一致，什么都没有改变。",
            Text::CodeRefused => {
                "这个设置密码码无效：可能输错了、已用过或已过期。请向管理员要一个新的。"
            }
            Text::PasswordRule => {
                "密码不符合要求：至少 10 个字符，最多 256 字节，且不能与账号相同。"
            }
            Text::PasswordSetSignIn => "密码已设置，请用新密码登录。",
            Text::Welcome => "欢迎",
            Text::Comma => "，",
            Text::Role => "角色",
            Text::District => "辖区",
            Text::WholeCity => "全市",
            Text::SignOut => "退出登录",
            Text::ChangePasswordTitle => "修改密码",
            Text::CurrentPassword => "当前密码",
            Text::ChangePassword => "修改密码",
            Text::CurrentPasswordWrong => "当前密码不正确，什么都没有改变。",
            Text::PasswordChanged => "密码已修改；您在其他设备上的登录已退出。",
            Text::FormRefused => "这个表单已失效或来自其他网站，没有执行。请刷新页面后重试。",
            Text::HostFailed => "平台暂时出错，请稍后再试。",
            Text::NotFound => "页面不存在。",
            Text::BackHome => "返回首页",
            Text::RolePlatformAdmin => "平台管理员",
            Text::RoleDistrictAdmin => "区管理员",
            Text::RoleAuditor => "审计员",
            Text::RoleWorker => "网格员",
            Text::RoleResident => "居民",
            Text::Apps => "应用",
            Text::App => "应用",
            Text::Version => "版本",
            Text::Status => "状态",
            Text::Active => "运行中",
            Text::Suspended => "已暂停",
            Text::TrialAfter => "试用调用时间：",
            Text::Suspend => "暂停",
            Text::Resume => "恢复",
            Text::OpenApp => "打开",
            Text::Actions => "操作",
            Text::NoApps => "本辖区还没有安装应用。",
            Text::SuspendedInConsole => "管理员在控制台暂停",
            Text::AppSuspended => "应用已暂停：它不再响应请求，直到恢复。",
            Text::AppResumed => "应用已恢复。",
            Text::NotAllowed => "您的角色不能查看这个页面。",
            Text::Audit => "审计",
            Text::MayDo => "它可以做什么",
            Text::Permission => "权限",
            Text::WhatItAllows => "允许应用做的事",
            Text::PublisherReason => "开发者说明的理由",
            Text::Granted => "已授予",
            Text::NotGranted => "未授予",
            Text::LastUsed => "最近一次使用",
            Text::NeverUsed => "从未使用",
            Text::DataScope => "数据范围：",
            Text::WholeDistrict => "全辖区",
            Text::DidDo => "它做了什么",
            Text::WasDenied => "哪些调用被拒绝",
            Text::NoDenials => "没有被拒绝的调用。",
            Text::UnusedGrants => "哪些授权从未使用",
            Text::AllGrantsUsed => "每项授权都使用过。",
            Text::IsIntact => "日志是否完整",
            Text::VerifyNow => "立即核验",
            Text::VerifyAbout => "核验会重新计算本辖区访问日志的哈希链，发现删改即报告第一处问题。",
            Text::LogIntact => "日志完整。已核验条目数：",
            Text::LogBroken => "日志已被篡改。第一处问题：",
            Text::Operation => "操作",
            Text::Outcome => "结果",
            Text::Allowed => "允许",
            Text::Denied => "拒绝",
            Text::FieldClass => "字段类别",
            Text::Masked => "已脱敏",
            Text::Personal => "个人信息",
            Text::Record => "记录编号",
            Text::Records => "返回的记录",
            Text::FromDay => "起始日期",
            Text::UntilDay => "截止日期",
            Text::AnyValue => "全部",
            Text::ApplyFilter => "筛选",
            Text::Older => "更早的记录",
            Text::ExportCsv => "导出 CSV",
            Text::When => "时间",
            Text::NoEntries => "没有符合条件的记录。",
            Text::BadFilter => {
                "筛选条件无效：日期格式为 2026-12-06，记录编号只含字母、数字和 _ . : -。"
            }
            Text::TimesShown => "时间均为北京时间（UTC+8）。",
            Text::NotLogged => "这些授权的使用不逐条记入访问日志，无法判断是否用过。",
            Text::InstallApp => "安装应用",
            Text::Registry => "应用仓库",
            Text::Package => "应用及版本要求",
            Text::PackageHint => {
                "例如 smart-care@^1（1.x 中最新的版本）或 smart-care@=1.2.0（正好这个版本）。"
            }
            Text::ShowRelease => "查看此版本",
            Text::ReleaseRefused => "无法获取或核验该版本，未作任何更改：",
            Text::InstallRefused => "安装被拒绝，未作任何更改：",
            Text::UpgradeRefused => "升级被拒绝，未作任何更改：",
            Text::InstallConsent => "安装前请确认授予的权限",
            Text::UpgradeConsent => "升级前请确认变化",
            Text::Installed => "当前版本",
            Text::UpgradeTo => "升级到",
            Text::PublisherKey => "发布者密钥",
            Text::AlreadyNewest => "已是符合要求的最新版本，无需升级。",
            Text::AddsNothing => "新版本没有申请新的权限。",
            Text::AddedPermissions => "新版本新申请的权限（须全部同意才能升级）",
            Text::RemovedPermissions => "新版本不再申请、升级后将收回的权限：",
            Text::NewPublisherWarning => {
                "新版本由另一个发布者密钥签名：升级会把这个应用及其数据交给新的发布者。"
            }
            Text::NewPublisherConsent => "我已核实，同意由新的发布者接管",
            Text::Upgrade => "升级",
            Text::GrantWhich => "授予哪些权限（未勾选的不授予）",
            Text::NarrowTo => "只对这些社区开放数据（都不选则为全辖区）",
            Text::NoCommunities => "本辖区还没有导入社区数据。",
            Text::Configuration => "配置（JSON）",
            Text::ConfigurationHint => "按应用清单中的配置说明填写；安装前会按清单检查。",
            Text::Install => "安装",
            Text::Rollback => "回滚到",
            Text::AppInstalled => "应用已安装。",
            Text::AppUpgraded => "应用已升级。",
            Text::AppRolledBack => "应用已回滚到上一个版本。",
            Text::UpgradeLink => "检查升级",
            Text::ChangeRefused => "未能更改该应用，未作任何更改：",
            Text::Accounts => "账号",
            Text::DisplayName => "姓名",
            Text::Enabled => "可用",
            Text::Disabled => "已停用",
            Text::IssueCode => "签发设置密码码",
            Text::IssueToken => "签发 API 令牌",
            Text::EndSessions => "结束所有登录",
            Text::Disable => "停用",
            Text::NewAccount => "新建账号",
            Text::AccountIdHint => "1–63 个字符：小写字母、数字和 -，以字母开头，例如 wang-li。",
            Text::Grids => "负责的网格（网格员，用逗号分隔）",
            Text::ResidentRecord => "对应的居民记录编号（居民）",
            Text::Phone => "手机号（用于短信和外呼通知）",
            Text::CreateAccount => "创建账号",
            Text::AccountCreated => "账号已创建。请为其签发设置密码码。",
            Text::AccountDisabled => "账号已停用，其所有登录已结束。",
            Text::SessionsEnded => "该账号的所有登录已结束。",
            Text::AccountRefused => "未能完成，未作任何更改：",
            Text::CodeIssued => "设置密码码",
            Text::TokenIssued => "API 令牌",
            Text::ShownOnce => "只显示这一次：请现在交给本人，平台不保存它。",
            Text::RedeemAt => "本人在此设置密码：",
            Text::ValidUntil => "有效期至（UTC）：",
            Text::City => "全市",
            Text::Districts => "辖区",
            Text::Administrators => "管理员",
            Text::NoAdministrator => "还没有管理员",
            Text::NewDistrict => "新建辖区",
            Text::DistrictId => "辖区编号",
            Text::DistrictName => "辖区名称",
            Text::FirstAdministrator => "首位管理员的账号（可不填）",
            Text::CreateDistrict => "创建辖区",
            Text::DistrictCreated => "辖区已创建。",
            Text::AllInstalls => "全市所有应用",
            Text::Pages => "分页",
            Text::NextPage => "下一页",
            Text::PreviousPage => "上一页",
            Text::Uninstall => "卸载",
            Text::UninstallStops => {
                "卸载后，应用立即停止响应，它的权限和以前的版本（无法再回滚）一并删除。"
            }
            Text::AppKeeps => "它在平台上保存的数据：",
            Text::KvKeys => "个键",
            Text::Bytes => "字节",
            Text::ItsData => "它的数据",
            Text::KeepData => "保留数据（以后重新安装同一应用时可再用）",
            Text::DeleteData => "删除数据（无法恢复）",
            Text::TypeTheName => "要删除数据，请输入应用名称以确认：",
            Text::AppUninstalled => "应用已卸载。",
            Text::SearchedTo => "本次已查找较新的一段日志，更早的还未查找。",
            Text::SearchOn => "继续查找更早的记录",
            Text::CommunityData => "社区数据",
            Text::Imported => "已导入。",
            Text::Created => "新增",
            Text::Updated => "更新",
            Text::ImportRefused => "导入被拒绝，未写入任何记录：",
            Text::Line => "行",
            Text::WhatIsWrong => "问题",
            Text::RecordKindColumn => "记录类型",
            Text::Count => "数量",
            Text::ExportAll => "导出全部（JSON lines）",
            Text::ExportHoldsPersonal => {
                "导出文件含完整的个人信息，请妥善保管；每次导出都记入日志。"
            }
            Text::ImportFile => "导入文件",
            Text::FileFormat => "文件格式",
            Text::JsonLines => "JSON lines（每行一条记录，含 kind 字段）",
            Text::File => "文件",
            Text::ImportAllOrNothing => {
                "整个文件先检查，任何一行有误则全部不写入；已有编号的记录会被更新。"
            }
            Text::Import => "导入",
            Text::Catalogue => "应用目录",
            Text::RegistryAdded => "应用仓库已添加。",
            Text::RegistryRemoved => "应用仓库已移除（已安装的应用不受影响）。",
            Text::RegistryUnreadable => "无法读取或核验这个应用仓库：",
            Text::CatalogueEmpty => "目录中还没有应用：请先在下方添加应用仓库。",
            Text::Versions => "版本（新的在前）",
            Text::KeyTrusted => "本辖区已信任",
            Text::KeyNotTrusted => "未信任",
            Text::TrustFirst => "须先信任发布者密钥",
            Text::NotForThisHost => "与本平台版本不兼容",
            Text::AlreadyNewestShort => "已是最新版本",
            Text::Registries => "应用仓库",
            Text::NoRegistries => "还没有添加应用仓库。",
            Text::Remove => "移除",
            Text::AddRegistry => "添加应用仓库",
            Text::Settings => "设置",
            Text::GatewaysSaved => "通知网关已保存。",
            Text::DeviceRemoved => "设备已移除。",
            Text::DeviceToken => "设备令牌",
            Text::DeviceTokenOnce => "只显示这一次：请现在配置到设备或网关上，平台只保存它的摘要。",
            Text::Gateways => "通知网关",
            Text::SmsGateway => "短信网关地址",
            Text::VoiceGateway => "语音外呼网关地址",
            Text::WebhookUrl => "Webhook 地址",
            Text::SigningSecret => "签名密钥",
            Text::SecretSet => "已设置（留空则不变）",
            Text::SecretNotSet => "尚未设置",
            Text::SecretWriteOnly => "密钥只写不读：页面不会显示它。至少 16 字节。",
            Text::RatePerMinute => "每个应用每分钟最多发送",
            Text::Save => "保存",
            Text::Devices => "设备",
            Text::AllDevices => "全部设备",
            Text::OfflineOnly => "只看离线设备",
            Text::NoDevices => "没有设备。",
            Text::Device => "设备编号",
            Text::BoundTo => "绑定",
            Text::Online => "在线",
            Text::Offline => "离线",
            Text::NewToken => "换新令牌",
            Text::RegisterDevice => "登记设备",
            Text::DeviceKind => "设备类型",
            Text::Household => "住户编号",
            Text::Heartbeat => "心跳间隔（秒，10 至 604800，默认 3600）",
            Text::Register => "登记",
            Text::CaseSettings => "工单设置",
            Text::CaseSettingsSaved => "工单设置已保存。",
            Text::Categories => "工单类别",
            Text::CodeField => "编码",
            Text::Name => "名称",
            Text::Description => "说明",
            Text::CallerContact => "报告人联系方式",
            Text::Open311Section => "Open311 对外接口",
            Text::Open311Explained => {
                "12345 热线和公开地图等外部系统通过 Open311 报告和查看工单。公开查看的工单从不包含报告人的联系方式，也不包括关于某位居民的工单。"
            }
            Text::Open311PublicReads => "任何人无需密钥即可查看公开类别的工单",
            Text::Open311PrivateServices => "不公开的类别（类别代码，用逗号分隔）",
            Text::Group => "分组",
            Text::Departments => "部门",
            Text::Tier => "层级",
            Text::Unit => "服务的网格、社区或街道编号",
            Text::Members => "成员账号（用逗号分隔）",
            Text::Deadlines => "办理时限",
            Text::Priority => "紧急程度",
            Text::MinutesToAccept => "受理时限（分钟）",
            Text::MinutesToHandle => "办理时限（分钟）",
            Text::MinutesToVerify => "核查时限（分钟）",
            Text::CategoryOrAll => "类别编码（* 表示其他所有类别）",
            Text::CasePolicy => "工单规则",
            Text::ReopenDays => "办结后可重新打开的天数",
            Text::AutoEscalate => "超期工单自动上报上一层级",
            Text::CallsSinceStart => "本进程启动以来调用",
            Text::FailedCalls => "失败",
            Text::CasesForWorker => "我的待办工单",
            Text::CasesMine => "我的工单",
            Text::CasesAll => "全部工单",
            Text::CaseState => "状态",
            Text::Category => "类别",
            Text::Grid => "网格",
            Text::Building => "楼栋",
            Text::AnyState => "全部状态",
            Text::OpenOnly => "未办结",
            Text::OverdueCases => "已超期",
            Text::OtherCases => "其他工单",
            Text::NoCases => "没有工单。",
            Text::CaseNumber => "工单",
            Text::ReportedAt => "报告时间",
            Text::Location => "位置",
            Text::ResidentConcerned => "涉及居民",
            Text::AssignedTo => "承办",
            Text::NotYetAssigned => "尚未派遣",
            Text::DueBy => "时限",
            Text::History => "处理记录",
            Text::Photos => "照片",
            Text::Satisfaction => "满意度",
            Text::WhatNext => "办理",
            Text::NothingToDo => "你目前无需对此工单操作。",
            Text::NoteLabel => "说明（原因或办理情况）",
            Text::AssigneeLabel => "派给",
            Text::AssigneeHint => "填写 department:部门编号 或 worker:网格员账号",
            Text::SatisfactionLabel => "满意度（1 最差，5 最好）",
            Text::CaseChanged => "已完成。",
            Text::CaseReported => "问题已提交，你可以在这里跟进处理进度。",
            Text::CaseRefused => "未能完成：",
            Text::ActorStaff => "工作人员",
            Text::ActorSystem => "系统",
            Text::ActorYou => "你",
            Text::ActorApp => "应用",
            Text::OpenedForYou => "由应用代你发起",
            Text::ReportProblem => "报告问题",
            Text::ReportHelp => {
                "请说明问题和位置。工作人员受理后，你会在“我的工单”里看到处理进度。"
            }
            Text::NoBuilding => "不指定楼栋",
            Text::PhotosHint => {
                "最多 3 张 JPEG 或 PNG，每张不超过 5 MB。照片中的位置等信息会被去除。"
            }
            Text::Submit => "提交",
            Text::ReportRefused => "问题未提交：",
            Text::Inbox => "收件箱",
            Text::NoMessages => "没有消息。",
            Text::MarkRead => "标为已读",
            Text::Unread => "未读",
            Text::ReadOn => "已读于",
            Text::From => "来自",
            Text::WhoReadMyData => "谁查看了我的数据",
            Text::ReadsHelp => {
                "这里列出每一次读取你的居民记录或你家住户记录的操作：哪个应用（以及它为什么需要这项权限）或哪位工作人员、什么时间、做了什么、个人信息是否被脱敏。被拒绝的尝试也会列出。"
            }
            Text::ReadsOfResident => "居民数据查看记录",
            Text::ReadBy => "查看者",
            Text::ByStaff => "工作人员",
            Text::ByOperator => "平台运维（命令行）",
            Text::Through => "涉及",
            Text::ThroughResident => "居民记录",
            Text::ThroughHousehold => "住户记录",
            Text::ThroughDistrict => "全辖区数据导出",
            Text::ShownInFull => "个人信息完整可见",
            Text::NoPersonalFields => "不含个人信息",
            Text::NoReads => "还没有人查看过这些数据。",
            Text::NoResidentRecord => "你的账号没有关联居民记录，请联系社区工作人员。",
            Text::ResidentId => "居民编号",
            Text::ShowReads => "查看",
            Text::AppPages => "应用页面",
            Text::StateReported => "待受理",
            Text::StateRejected => "不予受理",
            Text::StateAccepted => "已受理",
            Text::StateDispatched => "已派遣",
            Text::StateInProgress => "处理中",
            Text::StateHandled => "已办理",
            Text::StateVerified => "已核查",
            Text::StateClosed => "已办结",
            Text::ActAccept => "受理",
            Text::ActReject => "不予受理",
            Text::ActDispatch => "派遣",
            Text::ActReassign => "改派",
            Text::ActStart => "开始处理",
            Text::ActHandle => "办理完成",
            Text::ActVerify => "核查通过",
            Text::ActFailVerification => "核查不通过",
            Text::ActClose => "办结",
            Text::ActReopen => "重新打开",
            Text::ActEscalate => "上报上一层级",
            Text::ActComment => "留言",
            Text::ActEvaluate => "评价",
            Text::ActReport => "报告",
            Text::ActOverdue => "超期",
            Text::PriorityLow => "可缓办",
            Text::PriorityNormal => "一般",
            Text::PriorityHigh => "紧急",
            Text::PriorityUrgent => "特急",
            Text::TierGrid => "网格",
            Text::TierCommunity => "社区",
            Text::TierStreet => "街道",
            Text::TierDistrict => "区",
            Text::TierCity => "市",
            Text::OpGetResident => "读取居民记录",
            Text::OpQueryResidents => "按条件查询居民",
            Text::OpListMembers => "读取组织成员名单",
            Text::OpGetHousehold => "读取住户记录",
            Text::OpListHouseholds => "列出住户",
            Text::OpStaffRead => "查看居民信息",
            Text::OpReadCaseContact => "查看工单报告人的联系方式",
            Text::OpExport => "导出全辖区数据",
            Text::OpNotify => "发送通知",
        }
    }

    /// The English words.
    pub fn en(self) -> &'static str {
        match self {
            Text::Product => "Hutong · smart community platform",
            Text::SwitchTo => "中文",
            Text::SignInTitle => "Sign in",
            Text::AccountId => "Account",
            Text::Password => "Password",
            Text::SignIn => "Sign in",
            Text::WrongIdOrPassword => "Wrong account or password.",
            Text::TooManyFailures => "Too many failed sign-ins. You can try again in",
            Text::Minutes => "minutes",
            Text::HaveACode => {
                "First sign-in, or forgot your password? Use the code your administrator gave you"
            }
            Text::SetPasswordTitle => "Set your password",
            Text::SetPasswordHelp => {
                "Enter the one-time code your administrator gave you and choose a new password (at least 10 characters). Your sign-ins on other devices end."
            }
            Text::Code => "Set-password code",
            Text::NewPassword => "New password",
            Text::RepeatPassword => "New password, again",
            Text::SetPassword => "Set password",
            Text::PasswordsDiffer => "The two new passwords differ; nothing was changed.",
            Text::CodeRefused => {
                "This code does not work: it is mistyped, used or expired. Ask your administrator for a new one."
            }
            Text::PasswordRule => {
                "The password does not fit the rule: at least 10 characters, at most 256 bytes, and not the account id."
            }
            Text::PasswordSetSignIn => "Your password is set. Sign in with it.",
            Text::Welcome => "Welcome",
            Text::Comma => ", ",
            Text::Role => "Role",
            Text::District => "District",
            Text::WholeCity => "The whole city",
            Text::SignOut => "Sign out",
            Text::ChangePasswordTitle => "Change password",
            Text::CurrentPassword => "Current password",
            Text::ChangePassword => "Change password",
            Text::CurrentPasswordWrong => "The current password is wrong; nothing was changed.",
            Text::PasswordChanged => {
                "Your password is changed; your sign-ins on other devices ended."
            }
            Text::FormRefused => {
                "This form has expired or came from another site, so nothing was done. Reload the page and try again."
            }
            Text::HostFailed => "The platform failed for a moment; try again shortly.",
            Text::NotFound => "There is no such page.",
            Text::BackHome => "Back to the start",
            Text::RolePlatformAdmin => "Platform administrator",
            Text::RoleDistrictAdmin => "District administrator",
            Text::RoleAuditor => "Auditor",
            Text::RoleWorker => "Grid worker",
            Text::RoleResident => "Resident",
            Text::Apps => "Apps",
            Text::App => "App",
            Text::Version => "Version",
            Text::Status => "Status",
            Text::Active => "Active",
            Text::Suspended => "Suspended",
            Text::TrialAfter => "Trial call after:",
            Text::Suspend => "Suspend",
            Text::Resume => "Resume",
            Text::OpenApp => "Open",
            Text::Actions => "Actions",
            Text::NoApps => "No apps are installed in this district yet.",
            Text::SuspendedInConsole => "suspended by an administrator in the console",
            Text::AppSuspended => "The app is suspended: it answers nothing until it is resumed.",
            Text::AppResumed => "The app is resumed.",
            Text::NotAllowed => "Your role cannot see this page.",
            Text::Audit => "Audit",
            Text::MayDo => "What may it do",
            Text::Permission => "Permission",
            Text::WhatItAllows => "What it lets the app do",
            Text::PublisherReason => "The publisher's reason",
            Text::Granted => "Granted",
            Text::NotGranted => "Not granted",
            Text::LastUsed => "Last used",
            Text::NeverUsed => "Never used",
            Text::DataScope => "Data it sees:",
            Text::WholeDistrict => "the whole district",
            Text::DidDo => "What did it do",
            Text::WasDenied => "What was denied",
            Text::NoDenials => "Nothing was denied.",
            Text::UnusedGrants => "Which grants were never used",
            Text::AllGrantsUsed => "Every grant has been used.",
            Text::IsIntact => "Is the log intact",
            Text::VerifyNow => "Verify now",
            Text::VerifyAbout => {
                "Verifying recomputes the district's access-log hash chain and reports the first entry that was changed or removed."
            }
            Text::LogIntact => "The log is intact. Entries checked:",
            Text::LogBroken => "The log was tampered with. The first problem:",
            Text::Operation => "Operation",
            Text::Outcome => "Outcome",
            Text::Allowed => "allowed",
            Text::Denied => "denied",
            Text::FieldClass => "Field class",
            Text::Masked => "masked",
            Text::Personal => "personal",
            Text::Record => "Record id",
            Text::Records => "Records returned",
            Text::FromDay => "From",
            Text::UntilDay => "Until",
            Text::AnyValue => "any",
            Text::ApplyFilter => "Filter",
            Text::Older => "Older entries",
            Text::ExportCsv => "Export as CSV",
            Text::When => "When",
            Text::NoEntries => "No entries match.",
            Text::BadFilter => {
                "The filter is not valid: dates look like 2026-12-06, record ids hold letters, digits and _ . : - only."
            }
            Text::TimesShown => "Times are China Standard Time (UTC+8).",
            Text::NotLogged => {
                "uses of these grants are not logged one by one, so whether they were used cannot be told."
            }
            Text::InstallApp => "Install an app",
            Text::Registry => "Registry",
            Text::Package => "Package and version requirement",
            Text::PackageHint => {
                "For example smart-care@^1 (the newest 1.x) or smart-care@=1.2.0 (exactly that version)."
            }
            Text::ShowRelease => "Show this release",
            Text::ReleaseRefused => {
                "The release could not be fetched or verified; nothing was changed:"
            }
            Text::InstallRefused => "The install was refused; nothing was changed:",
            Text::UpgradeRefused => "The upgrade was refused; nothing was changed:",
            Text::InstallConsent => "Consent before installing",
            Text::UpgradeConsent => "Consent before upgrading",
            Text::Installed => "Installed now",
            Text::UpgradeTo => "Upgrade to",
            Text::PublisherKey => "Publisher key",
            Text::AlreadyNewest => {
                "The installed version is the newest that matches; there is nothing to upgrade to."
            }
            Text::AddsNothing => "The new version asks for no new permission.",
            Text::AddedPermissions => {
                "Permissions the new version adds (the upgrade needs each of them)"
            }
            Text::RemovedPermissions => {
                "Permissions the new version no longer asks for, revoked on upgrade:"
            }
            Text::NewPublisherWarning => {
                "The new version is signed by another publisher key: upgrading hands this app and its data to another publisher."
            }
            Text::NewPublisherConsent => "I checked; the new publisher may take the app over",
            Text::Upgrade => "Upgrade",
            Text::GrantWhich => "Which permissions to grant (nothing unticked is granted)",
            Text::NarrowTo => "Only these communities' data (none ticked: the whole district)",
            Text::NoCommunities => "The district has no communities yet.",
            Text::Configuration => "Configuration (JSON)",
            Text::ConfigurationHint => {
                "As the app's manifest describes; checked against it before installing."
            }
            Text::Install => "Install",
            Text::Rollback => "Roll back to",
            Text::AppInstalled => "The app is installed.",
            Text::AppUpgraded => "The app is upgraded.",
            Text::AppRolledBack => "The app is rolled back to its previous version.",
            Text::UpgradeLink => "Check for an upgrade",
            Text::ChangeRefused => "The app could not be changed; nothing was changed:",
            Text::Accounts => "Accounts",
            Text::DisplayName => "Name",
            Text::Enabled => "Enabled",
            Text::Disabled => "Disabled",
            Text::IssueCode => "Issue a set-password code",
            Text::IssueToken => "Issue an API token",
            Text::EndSessions => "End all sessions",
            Text::Disable => "Disable",
            Text::NewAccount => "New account",
            Text::AccountIdHint => {
                "1 to 63 characters of a-z, 0-9 and -, starting with a letter, e.g. wang-li."
            }
            Text::Grids => "Grids served (workers; separated by commas)",
            Text::ResidentRecord => "Resident record id (residents)",
            Text::Phone => "Phone (for SMS and voice notifications)",
            Text::CreateAccount => "Create the account",
            Text::AccountCreated => "The account is created. Issue it a set-password code.",
            Text::AccountDisabled => "The account is disabled and all its sessions ended.",
            Text::SessionsEnded => "All the account's sessions have ended.",
            Text::AccountRefused => "That could not be done; nothing was changed:",
            Text::CodeIssued => "Set-password code",
            Text::TokenIssued => "API token",
            Text::ShownOnce => {
                "Shown this once: hand it to the person now; the platform does not keep it."
            }
            Text::RedeemAt => "They set their password at:",
            Text::ValidUntil => "Valid until (UTC):",
            Text::City => "The city",
            Text::Districts => "Districts",
            Text::Administrators => "Administrators",
            Text::NoAdministrator => "no administrator yet",
            Text::NewDistrict => "New district",
            Text::DistrictId => "District id",
            Text::DistrictName => "District name",
            Text::FirstAdministrator => "First administrator's account id (optional)",
            Text::CreateDistrict => "Create the district",
            Text::DistrictCreated => "The district is created.",
            Text::AllInstalls => "Every install of the city",
            Text::Pages => "Pages",
            Text::NextPage => "Next page",
            Text::PreviousPage => "Previous page",
            Text::Uninstall => "Uninstall",
            Text::UninstallStops => {
                "Once uninstalled, the app answers nothing; its grants and its earlier versions (no rollback any more) are removed."
            }
            Text::AppKeeps => "The data it keeps on the platform:",
            Text::KvKeys => "keys",
            Text::Bytes => "bytes",
            Text::ItsData => "Its data",
            Text::KeepData => "Keep the data (a later install of the same app finds it again)",
            Text::DeleteData => "Delete the data (it cannot be recovered)",
            Text::TypeTheName => "To delete the data, type the app's name to confirm:",
            Text::AppUninstalled => "The app is uninstalled.",
            Text::SearchedTo => {
                "This search looked through the newer part of the log; older entries are not searched yet."
            }
            Text::SearchOn => "Search older entries",
            Text::CommunityData => "Community data",
            Text::Imported => "Imported.",
            Text::Created => "created",
            Text::Updated => "updated",
            Text::ImportRefused => "The import was refused; nothing was written:",
            Text::Line => "Line",
            Text::WhatIsWrong => "What is wrong",
            Text::RecordKindColumn => "Kind of record",
            Text::Count => "Count",
            Text::ExportAll => "Export everything (JSON lines)",
            Text::ExportHoldsPersonal => {
                "Exports hold personal data in full: keep them safe. Each export is logged."
            }
            Text::ImportFile => "Import a file",
            Text::FileFormat => "File format",
            Text::JsonLines => "JSON lines (one record per line, with a kind field)",
            Text::File => "File",
            Text::ImportAllOrNothing => {
                "The whole file is checked first: if any line is wrong nothing is written. Records whose id exists are updated."
            }
            Text::Import => "Import",
            Text::Catalogue => "Catalogue",
            Text::RegistryAdded => "The registry is added.",
            Text::RegistryRemoved => "The registry is removed (installed apps stay).",
            Text::RegistryUnreadable => "This registry could not be read or checked:",
            Text::CatalogueEmpty => "The catalogue is empty: add a registry below.",
            Text::Versions => "Versions (newest first)",
            Text::KeyTrusted => "trusted by the district",
            Text::KeyNotTrusted => "not trusted",
            Text::TrustFirst => "Trust the publisher key first",
            Text::NotForThisHost => "Not for this host's API",
            Text::AlreadyNewestShort => "Up to date",
            Text::Registries => "Registries",
            Text::NoRegistries => "No registries yet.",
            Text::Remove => "Remove",
            Text::AddRegistry => "Add the registry",
            Text::Settings => "Settings",
            Text::GatewaysSaved => "The gateways are saved.",
            Text::DeviceRemoved => "The device is removed.",
            Text::DeviceToken => "Device token",
            Text::DeviceTokenOnce => {
                "Shown this once: configure it on the device or gateway now; the platform keeps only its digest."
            }
            Text::Gateways => "Notification gateways",
            Text::SmsGateway => "SMS gateway URL",
            Text::VoiceGateway => "Voice gateway URL",
            Text::WebhookUrl => "Webhook URL",
            Text::SigningSecret => "Signing secret",
            Text::SecretSet => "set (leave empty to keep it)",
            Text::SecretNotSet => "not set",
            Text::SecretWriteOnly => {
                "The secret is write-only: no page shows it. At least 16 bytes."
            }
            Text::RatePerMinute => "Deliveries per app per minute",
            Text::Save => "Save",
            Text::Devices => "Devices",
            Text::AllDevices => "All devices",
            Text::OfflineOnly => "Offline devices only",
            Text::NoDevices => "No devices.",
            Text::Device => "Device id",
            Text::BoundTo => "Bound to",
            Text::Online => "online",
            Text::Offline => "offline",
            Text::NewToken => "New token",
            Text::RegisterDevice => "Register a device",
            Text::DeviceKind => "Kind",
            Text::Household => "Household id",
            Text::Heartbeat => "Heartbeat interval (seconds, 10 to 604800; default 3600)",
            Text::Register => "Register",
            Text::CaseSettings => "Case settings",
            Text::CaseSettingsSaved => "The case settings are saved.",
            Text::Categories => "Categories",
            Text::CodeField => "Code",
            Text::Name => "Name",
            Text::Description => "Description",
            Text::CallerContact => "Caller's contact",
            Text::Open311Section => "Open311 interface",
            Text::Open311Explained => {
                "Hotline intake systems and public maps file and follow cases through Open311. A public read never includes the caller's contact, nor any case about a resident."
            }
            Text::Open311PublicReads => {
                "Anyone may read the requests of public categories without a key"
            }
            Text::Open311PrivateServices => "Private categories (codes, comma-separated)",
            Text::Group => "Group",
            Text::Departments => "Departments",
            Text::Tier => "Tier",
            Text::Unit => "Grid, community or street it serves",
            Text::Members => "Member accounts (separated by commas)",
            Text::Deadlines => "Deadlines",
            Text::Priority => "Priority",
            Text::MinutesToAccept => "Minutes to accept",
            Text::MinutesToHandle => "Minutes to handle",
            Text::MinutesToVerify => "Minutes to verify",
            Text::CategoryOrAll => "Category code (* for every other category)",
            Text::CasePolicy => "Case policy",
            Text::ReopenDays => "Days a closed case may be reopened",
            Text::AutoEscalate => "Overdue cases escalate one tier by themselves",
            Text::CallsSinceStart => "Calls since this process started:",
            Text::FailedCalls => "failed:",
            Text::CasesForWorker => "My cases to handle",
            Text::CasesMine => "My cases",
            Text::CasesAll => "All cases",
            Text::CaseState => "State",
            Text::Category => "Category",
            Text::Grid => "Grid",
            Text::Building => "Building",
            Text::AnyState => "Any state",
            Text::OpenOnly => "Still open",
            Text::OverdueCases => "Overdue",
            Text::OtherCases => "Other cases",
            Text::NoCases => "No cases.",
            Text::CaseNumber => "Case",
            Text::ReportedAt => "Reported",
            Text::Location => "Where",
            Text::ResidentConcerned => "Resident concerned",
            Text::AssignedTo => "Assigned to",
            Text::NotYetAssigned => "Not yet assigned",
            Text::DueBy => "Due by",
            Text::History => "History",
            Text::Photos => "Photos",
            Text::Satisfaction => "Satisfaction",
            Text::WhatNext => "What you can do",
            Text::NothingToDo => "There is nothing for you to do on this case now.",
            Text::NoteLabel => "Note (a reason, or what was done)",
            Text::AssigneeLabel => "Give it to",
            Text::AssigneeHint => "Write department:<id> or worker:<account>",
            Text::SatisfactionLabel => "Satisfaction (1 worst, 5 best)",
            Text::CaseChanged => "Done.",
            Text::CaseReported => "Your report is in. You can follow it here.",
            Text::CaseRefused => "That was not done:",
            Text::ActorStaff => "Staff",
            Text::ActorSystem => "System",
            Text::ActorYou => "You",
            Text::ActorApp => "App",
            Text::OpenedForYou => "Opened for you by an app",
            Text::ReportProblem => "Report a problem",
            Text::ReportHelp => {
                "Say what is wrong and where. Once staff accept it, you can follow it under My cases."
            }
            Text::NoBuilding => "No particular building",
            Text::PhotosHint => {
                "Up to 3 JPEG or PNG photos, 5 MB each. Location and other metadata are removed."
            }
            Text::Submit => "Send",
            Text::ReportRefused => "Your report was not sent:",
            Text::Inbox => "Inbox",
            Text::NoMessages => "No messages.",
            Text::MarkRead => "Mark read",
            Text::Unread => "Unread",
            Text::ReadOn => "Read on",
            Text::From => "From",
            Text::WhoReadMyData => "Who read my data",
            Text::ReadsHelp => {
                "Every read of your resident record or your household's record: which app (and why it says it needs the permission) or which staff member, when, what it did, and whether personal fields were masked. Refused attempts are listed too."
            }
            Text::ReadsOfResident => "Reads of a resident's data",
            Text::ReadBy => "Read by",
            Text::ByStaff => "Staff",
            Text::ByOperator => "Platform operator (command line)",
            Text::Through => "Through",
            Text::ThroughResident => "Resident record",
            Text::ThroughHousehold => "Household record",
            Text::ThroughDistrict => "Export of the whole district",
            Text::ShownInFull => "Personal fields shown",
            Text::NoPersonalFields => "No personal fields",
            Text::NoReads => "Nobody has read this data yet.",
            Text::NoResidentRecord => {
                "Your account is not linked to a resident record; ask your community's staff."
            }
            Text::ResidentId => "Resident id",
            Text::ShowReads => "Show",
            Text::AppPages => "App pages",
            Text::StateReported => "Reported",
            Text::StateRejected => "Rejected",
            Text::StateAccepted => "Accepted",
            Text::StateDispatched => "Dispatched",
            Text::StateInProgress => "In progress",
            Text::StateHandled => "Handled",
            Text::StateVerified => "Verified",
            Text::StateClosed => "Closed",
            Text::ActAccept => "Accept",
            Text::ActReject => "Reject",
            Text::ActDispatch => "Dispatch",
            Text::ActReassign => "Reassign",
            Text::ActStart => "Start",
            Text::ActHandle => "Mark handled",
            Text::ActVerify => "Verify",
            Text::ActFailVerification => "Fail verification",
            Text::ActClose => "Close",
            Text::ActReopen => "Reopen",
            Text::ActEscalate => "Escalate",
            Text::ActComment => "Comment",
            Text::ActEvaluate => "Evaluate",
            Text::ActReport => "Reported",
            Text::ActOverdue => "Went overdue",
            Text::PriorityLow => "Low",
            Text::PriorityNormal => "Normal",
            Text::PriorityHigh => "High",
            Text::PriorityUrgent => "Urgent",
            Text::TierGrid => "Grid",
            Text::TierCommunity => "Community",
            Text::TierStreet => "Street",
            Text::TierDistrict => "District",
            Text::TierCity => "City",
            Text::OpGetResident => "Read the resident record",
            Text::OpQueryResidents => "Searched residents",
            Text::OpListMembers => "Read an organisation's members",
            Text::OpGetHousehold => "Read the household record",
            Text::OpListHouseholds => "Listed households",
            Text::OpStaffRead => "Looked at resident details",
            Text::OpReadCaseContact => "Looked at a case caller's contact",
            Text::OpExport => "Exported the whole district's data",
            Text::OpNotify => "Sent a message",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::console::test_headers as headers;

    #[test]
    fn chinese_unless_the_browser_or_the_switch_says_otherwise() {
        assert_eq!(Lang::of(&headers(&[])), Lang::Zh);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "en-US,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&headers(&[(
                "accept-language",
                "fr, zh-CN;q=0.8, en;q=0.5"
            )])),
            Lang::Zh
        );
        assert_eq!(
            Lang::of(&headers(&[
                ("accept-language", "en"),
                ("cookie", "a=b; hutong_lang=zh-CN")
            ])),
            Lang::Zh
        );
    }
}
