#pragma once
// A non-owning reference to a callable, for callbacks that are only used during the call that
// receives them (C++26's std::function_ref, cut down): two words (the object's address and a
// trampoline), passed in registers, no allocation, no virtual call. Library functions take
// one by value instead of a template parameter or a `void (*)(void*, ...)` + `void*` pair, so
// their bodies stay out of line while every caller passes a plain lambda:
//
//   std::size_t for_each(vs::function_ref<void(const record_view&)> fn);
//   n = r.for_each([&](const record_view& v) { total += v.size(); });
//
// Lifetime: it refers to the callable it was made from, which must outlive every call (a
// temporary lambda passed as an argument lives until the full expression ends). Never store
// one beyond the call that received it.
#include <functional>
#include <type_traits>
#include <utility>

namespace vs {

template <class Signature>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
public:
    /// From any callable object or function (not from another function_ref: that is copied).
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> &&
                 std::is_invocable_r_v<R, std::remove_reference_t<F>&, Args...>)
    function_ref(F&& f) noexcept   // NOLINT(google-explicit-constructor): implicit by design
    {
        using target = std::remove_reference_t<F>;
        using pointee = std::remove_pointer_t<std::remove_cv_t<target>>;
        if constexpr (std::is_function_v<target>) {
            target_.fn = reinterpret_cast<void (*)()>(&f);
            call_ = [](storage s, Args... args) -> R {
                return invoke(reinterpret_cast<target*>(s.fn), std::forward<Args>(args)...);
            };
        } else if constexpr (std::is_pointer_v<std::remove_cv_t<target>> && std::is_function_v<pointee>) {
            // A function pointer is kept by value: `&fn` is a temporary pointer object.
            target_.fn = reinterpret_cast<void (*)()>(f);
            call_ = [](storage s, Args... args) -> R {
                return invoke(reinterpret_cast<pointee*>(s.fn), std::forward<Args>(args)...);
            };
        } else {
            target_.obj = const_cast<void*>(static_cast<const void*>(std::addressof(f)));
            call_ = [](storage s, Args... args) -> R {
                return invoke(*static_cast<target*>(s.obj), std::forward<Args>(args)...);
            };
        }
    }

    function_ref(const function_ref&) noexcept = default;
    function_ref& operator=(const function_ref&) noexcept = default;
    /// `ref = [&] {...};` would refer to a lambda that dies at the `;`: refused.
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref>)
    function_ref& operator=(F&&) = delete;

    R operator()(Args... args) const { return call_(target_, std::forward<Args>(args)...); }

private:
    union storage {
        void* obj;
        void (*fn)();
    };
    // std::invoke_r (C++23): a void R discards what the callable returns.
    template <class G>
    static R invoke(G&& g, Args... args)
    {
        if constexpr (std::is_void_v<R>) {
            std::invoke(std::forward<G>(g), std::forward<Args>(args)...);
        } else {
            return std::invoke(std::forward<G>(g), std::forward<Args>(args)...);
        }
    }

    storage target_;
    R (*call_)(storage, Args...);
};

}  // namespace vs
