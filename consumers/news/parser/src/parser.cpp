#include "vs/news/parser.hpp"

#include <algorithm>
#include <climits>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <libxml/HTMLparser.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>

#include "values.hpp"

namespace vs::news {

namespace {

using detail::is_space;

// ---------------------------------------------------------------------------------------
// libxml2 handles

/// A unique_ptr deleter calling the libxml2 function that frees its type.
template <auto release>
struct xml_deleter {
    template <typename T>
    void operator()(T* p) const noexcept
    {
        release(p);
    }
};

/// xmlFree is a function pointer variable, not a function: wrapped for xml_deleter.
void free_xml_string(xmlChar* s) noexcept
{
    xmlFree(s);
}

using doc_ptr = std::unique_ptr<xmlDoc, xml_deleter<xmlFreeDoc>>;
using compiled_xpath = std::unique_ptr<xmlXPathCompExpr, xml_deleter<xmlXPathFreeCompExpr>>;

void init_libxml_once()
{
    static std::once_flag once;
    std::call_once(once, [] { xmlInitParser(); });
}

std::string attr(const xmlNode* n, const char* name)
{
    std::unique_ptr<xmlChar, xml_deleter<free_xml_string>> v{xmlGetProp(n, reinterpret_cast<const xmlChar*>(name))};
    return v ? std::string{reinterpret_cast<const char*>(v.get())} : std::string{};
}

bool name_is(const xmlNode* n, const char* name) noexcept
{
    return xmlStrcasecmp(n->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

bool has_class(const xmlNode* n, std::string_view cls)
{
    const std::string all = attr(n, "class");
    std::string_view rest = all;
    while (!rest.empty()) {
        const auto start = std::find_if_not(rest.begin(), rest.end(), is_space);
        const auto end = std::find_if(start, rest.end(), is_space);
        if (std::string_view{start, end} == cls) {
            return true;
        }
        rest = std::string_view{end, rest.end()};
    }
    return false;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) noexcept
{
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

/// A positive decimal id ("70989"); nullopt otherwise.
std::optional<std::int64_t> parse_id(std::string_view s) noexcept
{
    const auto v = detail::parse_digits(s, 18);
    return v && *v > 0 ? v : std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Text as a browser shows it

/// Builds a post's text: whitespace runs collapse to one space (the reformatted sample pages
/// break lines inside sentences; a browser shows a space), <br> and block ends give '\n',
/// <pre> keeps its whitespace.
class text_builder {
public:
    void add(std::string_view s, bool preformatted)
    {
        if (preformatted) {
            out_.append(s);
            pending_space_ = false;
            return;
        }
        for (const char c : s) {
            if (is_space(c)) {
                pending_space_ = true;
                continue;
            }
            if (pending_space_ && !out_.empty() && out_.back() != '\n') {
                out_.push_back(' ');
            }
            pending_space_ = false;
            out_.push_back(c);
        }
    }

    void line_break()
    {
        out_.push_back('\n');
        pending_space_ = false;
    }

    void block_boundary()
    {
        if (!out_.empty() && out_.back() != '\n') {
            out_.push_back('\n');
        }
        pending_space_ = false;
    }

    std::string finish() &&
    {
        const auto last = out_.find_last_not_of(" \n");
        out_.erase(last == std::string::npos ? 0 : last + 1);
        const auto first = out_.find_first_not_of('\n');
        out_.erase(0, first == std::string::npos ? out_.size() : first);
        return std::move(out_);
    }

private:
    std::string out_;
    bool pending_space_ = false;
};

bool is_block(const xmlNode* n) noexcept
{
    static constexpr const char* blocks[] = {"div", "p", "blockquote", "pre", "li", "ul", "ol", "tr",
                                             "h1", "h2", "h3", "h4", "h5", "h6", "table"};
    return std::any_of(std::begin(blocks), std::end(blocks), [n](const char* b) { return name_is(n, b); });
}

/// Recursion depth is bounded by libxml2's own nesting limit (256; no HTML_PARSE_HUGE).
void collect_text(const xmlNode* parent, text_builder& out, bool preformatted)
{
    for (const xmlNode* n = parent->children; n != nullptr; n = n->next) {
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            if (n->content != nullptr) {
                out.add(reinterpret_cast<const char*>(n->content), preformatted);
            }
        } else if (n->type == XML_ELEMENT_NODE) {
            if (name_is(n, "br")) {
                out.line_break();
            } else if (name_is(n, "script") || name_is(n, "style") || name_is(n, "template")) {
                continue;
            } else if (is_block(n)) {
                out.block_boundary();
                collect_text(n, out, preformatted || name_is(n, "pre"));
                out.block_boundary();
            } else {
                collect_text(n, out, preformatted);
            }
        }
    }
}

std::string text_of(const xmlNode* n)
{
    if (n == nullptr) {
        return {};
    }
    text_builder out;
    collect_text(n, out, false);
    return std::move(out).finish();
}

// ---------------------------------------------------------------------------------------
// XPath by class

/// The XPath test "the element has class `c`" (class attributes hold several names).
std::string cls(std::string_view c)
{
    return "contains(concat(' ',normalize-space(@class),' '),' " + std::string{c} + " ')";
}

/// One page's compiled queries, evaluated against a context node.
class queries {
public:
    explicit queries(xmlDoc* doc) : doc_{doc}, ctxt_{xmlXPathNewContext(doc)}
    {
        if (!ctxt_) {
            throw std::bad_alloc{};
        }
    }

    /// Compiles `expr`; a query of ours that does not compile is a bug, not bad input.
    static compiled_xpath compile(const std::string& expr)
    {
        compiled_xpath c{xmlXPathCompile(reinterpret_cast<const xmlChar*>(expr.c_str()))};
        if (!c) {
            throw std::runtime_error{"cannot compile XPath " + expr};
        }
        return c;
    }

    /// The matching elements in document order; context nullptr: the document.
    std::vector<xmlNode*> all(const compiled_xpath& q, xmlNode* context)
    {
        ctxt_->node = context != nullptr ? context : reinterpret_cast<xmlNode*>(doc_);
        std::unique_ptr<xmlXPathObject, xml_deleter<xmlXPathFreeObject>> r{xmlXPathCompiledEval(q.get(), ctxt_.get())};
        std::vector<xmlNode*> nodes;
        if (r && r->type == XPATH_NODESET && r->nodesetval != nullptr) {
            nodes.assign(r->nodesetval->nodeTab, r->nodesetval->nodeTab + r->nodesetval->nodeNr);
        }
        return nodes;
    }

    xmlNode* first(const compiled_xpath& q, xmlNode* context)
    {
        const auto nodes = all(q, context);
        return nodes.empty() ? nullptr : nodes.front();
    }

private:
    xmlDoc* doc_;
    std::unique_ptr<xmlXPathContext, xml_deleter<xmlXPathFreeContext>> ctxt_;
};

/// The elements of a post that are the post's own: not inside a reply's quote or a link
/// preview (whose text, media and links belong to another message or page).
const std::string own = "[not(ancestor::*[" + cls("tgme_widget_message_reply") + " or " +
                        cls("tgme_widget_message_link_preview") + "])]";

const std::string media_test = cls("tgme_widget_message_photo_wrap") + " or " + cls("tgme_widget_message_video_player") +
                               " or " + cls("tgme_widget_message_roundvideo_player") + " or " +
                               cls("tgme_widget_message_document_wrap") + " or " + cls("tgme_widget_message_voice_player") +
                               " or self::audio[" + cls("tgme_widget_message_voice") + "] or " +
                               cls("tgme_widget_message_sticker_wrap") + " or " + cls("tgme_widget_message_sticker") +
                               " or " + cls("tgme_widget_message_tgsticker") + " or " +
                               cls("tgme_widget_message_videosticker");

struct page_queries {
    compiled_xpath posts = queries::compile("//*[@data-post][" + cls("tgme_widget_message") + "]");
    compiled_xpath history = queries::compile("//*[" + cls("tgme_channel_history") + " or " + cls("tgme_channel_info") + "]");
    compiled_xpath info_title = queries::compile("//*[" + cls("tgme_channel_info_header_title") + "]");
    compiled_xpath header_title = queries::compile("//*[" + cls("tgme_header_title") + "]");
    compiled_xpath og_title = queries::compile("//meta[@property='og:title']");
    compiled_xpath more = queries::compile("//*[@data-before][" + cls("tme_messages_more") + "]");
    compiled_xpath landing = queries::compile("//*[" + cls("tgme_page") + "]");
    compiled_xpath landing_title = queries::compile("//*[" + cls("tgme_page_title") + "]");

    // Relative to one post.
    compiled_xpath text = queries::compile(".//*[" + cls("tgme_widget_message_text") + "][not(ancestor::*[" +
                                           cls("tgme_widget_message_text") + "])]" + own);
    compiled_xpath date = queries::compile(".//*[" + cls("tgme_widget_message_date") + "]//time[@datetime]" + own);
    compiled_xpath any_date = queries::compile(".//time[@datetime]" + own);
    compiled_xpath views = queries::compile(".//*[" + cls("tgme_widget_message_views") + "]" + own);
    compiled_xpath owner = queries::compile(".//*[" + cls("tgme_widget_message_owner_name") + "]" + own);
    compiled_xpath signature = queries::compile(".//*[" + cls("tgme_widget_message_from_author") + "]" + own);
    compiled_xpath forwarded = queries::compile(".//*[" + cls("tgme_widget_message_forwarded_from_name") + "]" + own);
    compiled_xpath media = queries::compile(".//*[" + media_test + "][not(ancestor::*[" + media_test + "])]" + own);
    compiled_xpath audio_icon = queries::compile(".//*[" + cls("audio") + "]");
    compiled_xpath album_items = queries::compile(".//*[" + cls("tgme_widget_message_grouped_wrap") + "]//a[@href]" + own);
    compiled_xpath anchors = queries::compile(".//a[@href]");
    compiled_xpath preview = queries::compile(".//a[@href][" + cls("tgme_widget_message_link_preview") + "]" + own);
};

// ---------------------------------------------------------------------------------------
// Posts

media_kind classify(queries& q, const page_queries& pq, xmlNode* n)
{
    if (has_class(n, "tgme_widget_message_photo_wrap")) {
        return media_kind::photo;
    }
    if (has_class(n, "tgme_widget_message_video_player")) {
        // A GIF plays in the same player, marked js-message_gif.
        return has_class(n, "js-message_gif") ? media_kind::animation : media_kind::video;
    }
    if (has_class(n, "tgme_widget_message_roundvideo_player")) {
        return media_kind::video;
    }
    if (has_class(n, "tgme_widget_message_document_wrap")) {
        // Music is a document whose icon is marked "audio".
        return q.first(pq.audio_icon, n) != nullptr ? media_kind::audio : media_kind::document;
    }
    if (has_class(n, "tgme_widget_message_voice_player") || has_class(n, "tgme_widget_message_voice")) {
        return media_kind::voice;
    }
    return media_kind::sticker;
}

/// "https://t.me/<channel>/<n>?single" -> n.
std::optional<std::int64_t> album_item_id(std::string_view href)
{
    href = href.substr(0, href.find_first_of("?#"));
    const auto slash = href.rfind('/');
    return slash == std::string_view::npos ? std::nullopt : parse_id(href.substr(slash + 1));
}

bool is_http_link(std::string_view href) noexcept
{
    const auto scheme = href.find("://");
    return scheme != std::string_view::npos &&
           (equal_ignoring_case(href.substr(0, scheme), "http") || equal_ignoring_case(href.substr(0, scheme), "https"));
}

void add_link(std::vector<std::string>& links, std::string href)
{
    if (is_http_link(href) && std::find(links.begin(), links.end(), href) == links.end()) {
        links.push_back(std::move(href));
    }
}

/// The numeric channel id in a post's data-view (base64url JSON {"c":-<id>,"p":...}).
std::optional<std::int64_t> channel_id_of(const std::string& data_view)
{
    const auto json = detail::decode_base64url(data_view);
    if (!json) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(*json, ec);
    const auto* obj = ec ? nullptr : v.if_object();
    const auto* c = obj != nullptr ? obj->if_contains("c") : nullptr;
    const auto* id = c != nullptr ? c->if_int64() : nullptr;
    return id != nullptr && *id < 0 ? std::optional{-*id} : std::nullopt;
}

class page_reader {
public:
    page_reader(xmlDoc* doc, std::string_view channel, page& out) : q_{doc}, channel_{channel}, out_{out} {}

    void read()
    {
        read_channel();
        const auto blocks = q_.all(pq_.posts, nullptr);
        for (xmlNode* n : blocks) {
            read_post(n);
        }
        std::stable_sort(out_.posts.begin(), out_.posts.end(), [](const post& a, const post& b) { return a.id < b.id; });
        const auto dup = std::adjacent_find(out_.posts.begin(), out_.posts.end(),
                                            [](const post& a, const post& b) { return a.id == b.id; });
        if (dup != out_.posts.end()) {
            out_.warnings.push_back("post " + std::to_string(dup->id) + " appears more than once: kept the first");
            out_.posts.erase(std::unique(out_.posts.begin(), out_.posts.end(),
                                         [](const post& a, const post& b) { return a.id == b.id; }),
                             out_.posts.end());
        }
        if (!out_.posts.empty()) {
            out_.min_id = out_.posts.front().id;
            out_.max_id = out_.posts.back().id;
        }
        judge(blocks.size());
    }

private:
    void read_channel()
    {
        out_.channel_title = text_of(q_.first(pq_.info_title, nullptr));
        if (out_.channel_title.empty()) {
            out_.channel_title = text_of(q_.first(pq_.header_title, nullptr));
        }
        if (out_.channel_title.empty()) {
            if (xmlNode* og = q_.first(pq_.og_title, nullptr)) {
                out_.channel_title = attr(og, "content");
            }
        }
        if (xmlNode* more = q_.first(pq_.more, nullptr)) {
            out_.older_before = parse_id(attr(more, "data-before"));
        }
    }

    void read_post(xmlNode* n)
    {
        const std::string data_post = attr(n, "data-post");
        const auto slash = data_post.rfind('/');
        const auto id = slash == std::string::npos ? std::nullopt : parse_id(std::string_view{data_post}.substr(slash + 1));
        if (!id) {
            out_.warnings.push_back("post with data-post=\"" + data_post + "\" left out: no usable id");
            return;
        }
        const std::string_view owner = std::string_view{data_post}.substr(0, slash);
        if (!channel_.empty() && !equal_ignoring_case(owner, channel_)) {
            out_.warnings.push_back("post " + data_post + " left out: not of channel " + std::string{channel_});
            return;
        }

        post p;
        p.id = *id;
        p.last_id = *id;
        xmlNode* time = q_.first(pq_.date, n);
        time = time != nullptr ? time : q_.first(pq_.any_date, n);
        p.date_iso = time != nullptr ? attr(time, "datetime") : std::string{};
        const auto date_ms = parse_iso8601_ms(p.date_iso);
        if (!date_ms) {
            // The footer's date is the last thing of a post: without it the page was cut
            // inside this post and its text may be cut too.
            out_.warnings.push_back("post " + std::to_string(p.id) + " left out: no valid date" +
                                    (p.date_iso.empty() ? " (page truncated?)" : " (\"" + p.date_iso + "\")"));
            return;
        }
        p.date_ms = *date_ms;

        xmlNode* text = q_.first(pq_.text, n);
        p.text = text_of(text);
        if (text != nullptr) {
            for (xmlNode* a : q_.all(pq_.anchors, text)) {
                add_link(p.links, attr(a, "href"));
            }
        }
        for (xmlNode* a : q_.all(pq_.preview, n)) {
            add_link(p.links, attr(a, "href"));
        }

        if (xmlNode* views = q_.first(pq_.views, n)) {
            p.views = parse_views(text_of(views));
        }
        p.author = text_of(q_.first(pq_.owner, n));
        p.signature = text_of(q_.first(pq_.signature, n));
        if (xmlNode* fwd = q_.first(pq_.forwarded, n)) {
            p.forwarded_from = text_of(fwd);
            p.forwarded_from_url = attr(fwd, "href");
        }

        const auto media = q_.all(pq_.media, n);
        p.media_count = media.size();
        p.media = media.empty() ? media_kind::none : classify(q_, pq_, media.front());
        for (xmlNode* item : q_.all(pq_.album_items, n)) {
            if (const auto item_id = album_item_id(attr(item, "href"))) {
                p.last_id = std::max(p.last_id, *item_id);
            }
        }
        p.service = has_class(n, "service_message");

        if (!out_.channel_id) {
            out_.channel_id = channel_id_of(attr(n, "data-view"));
        }
        out_.posts.push_back(std::move(p));
    }

    void judge(std::size_t blocks)
    {
        if (!out_.posts.empty()) {
            out_.kind = page_kind::ok;
        } else if (blocks > 0) {
            out_.kind = page_kind::invalid;
            out_.error = "none of the page's " + std::to_string(blocks) + " posts could be used: " +
                         (out_.warnings.empty() ? std::string{} : out_.warnings.back());
        } else if (q_.first(pq_.history, nullptr) != nullptr) {
            out_.kind = page_kind::empty;
        } else if (q_.first(pq_.landing, nullptr) != nullptr) {
            // t.me/<name> instead of t.me/s/<name>: a title means the name exists.
            const std::string title = text_of(q_.first(pq_.landing_title, nullptr));
            if (title.empty()) {
                out_.kind = page_kind::no_channel;
                out_.error = "t.me has no channel @" + std::string{channel_};
            } else {
                out_.kind = page_kind::preview_disabled;
                out_.channel_title = title;
                out_.error = "@" + std::string{channel_} + " (\"" + title + "\") has no public web preview";
            }
        } else {
            out_.kind = page_kind::invalid;
            out_.error = "not a Telegram channel page: no posts, no channel history, no t.me landing page";
        }
    }

    queries q_;
    page_queries pq_;
    std::string_view channel_;
    page& out_;
};

/// The path of an absolute or relative URL ("https://t.me/s/x?before=1" -> "/s/x").
std::string_view url_path(std::string_view url) noexcept
{
    if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
        url.remove_prefix(scheme + 3);
        const auto slash = url.find('/');
        url.remove_prefix(slash == std::string_view::npos ? url.size() : slash);
    }
    return url.substr(0, url.find_first_of("?#"));
}

page invalid_page(std::string error)
{
    page p;
    p.kind = page_kind::invalid;
    p.error = std::move(error);
    return p;
}

page parse(std::string_view html, std::string_view channel, const parse_options& options)
{
    if (html.size() > options.max_bytes) {
        return invalid_page("input of " + std::to_string(html.size()) + " bytes is above the " +
                            std::to_string(options.max_bytes) + "-byte limit");
    }
    page out;
    std::string repaired;
    if (const std::size_t bad = detail::count_invalid_utf8(html); bad > 0) {
        repaired = detail::repair_utf8(html);
        html = repaired;
        out.warnings.push_back(std::to_string(bad) + " bytes of invalid UTF-8 (or NUL) replaced by U+FFFD");
    }
    if (html.size() > static_cast<std::size_t>(INT_MAX)) {
        return invalid_page("input too large for libxml2");
    }

    init_libxml_once();
    const std::unique_ptr<htmlParserCtxt, xml_deleter<htmlFreeParserCtxt>> ctxt{htmlNewParserCtxt()};
    if (!ctxt) {
        throw std::bad_alloc{};
    }
    // No HTML_PARSE_HUGE: libxml2's depth and size limits stay on (see the header).
    const doc_ptr doc{htmlCtxtReadMemory(ctxt.get(), html.data(), static_cast<int>(html.size()), nullptr, "UTF-8",
                                         HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                             HTML_PARSE_RECOVER)};
    if (ctxt->disableSAX != 0) {
        // A fatal error (in practice: nesting deeper than 256) stopped the parse; what came
        // before it is in the tree.
        const xmlError* e = xmlCtxtGetLastError(ctxt.get());
        std::string why = e != nullptr && e->message != nullptr ? e->message : "fatal parse error";
        while (!why.empty() && is_space(why.back())) {
            why.pop_back();
        }
        out.warnings.push_back("parsing stopped early (" + why + "): the rest of the page is ignored");
    }
    if (!doc || xmlDocGetRootElement(doc.get()) == nullptr) {
        out.kind = page_kind::invalid;
        out.error = "no HTML document in the input";
        return out;
    }
    page_reader{doc.get(), channel, out}.read();

    // libxml2 completes a cut document silently. A post cut short has no date and is left out
    // (see read_post); a page cut before its first post would look empty, which a caller must
    // not take for "no posts".
    const std::string_view end_tag = "</html>";
    if (std::search(html.begin(), html.end(), end_tag.begin(), end_tag.end(),
                    [](char a, char b) { return equal_ignoring_case({&a, 1}, {&b, 1}); }) == html.end()) {
        out.warnings.emplace_back("the page has no </html>: it may be truncated");
        out.truncated = true;
        if (out.kind == page_kind::empty) {
            out.kind = page_kind::invalid;
            out.error = "the page ends before </html> without any post: truncated";
        }
    }

    if (!options.final_url.empty() && !url_path(options.final_url).starts_with("/s/") &&
        out.kind != page_kind::no_channel) {
        out.kind = page_kind::preview_disabled;
        out.posts.clear();
        out.min_id.reset();
        out.max_id.reset();
        out.error = "redirected to " + std::string{options.final_url} + ": @" + std::string{channel} +
                    " has no public web preview";
    }
    return out;
}

}  // namespace

page parse_page(std::string_view html, std::string_view channel, const parse_options& options) noexcept
{
    try {
        return parse(html, channel, options);
    } catch (const std::exception& e) {
        try {
            return invalid_page(std::string{"cannot parse the page: "} + e.what());
        } catch (...) {
            return page{};  // kind invalid; no room even for the message
        }
    }
}

}  // namespace vs::news
