fn main() {
    quiet_mesa_device_select();
    std::process::exit(advbn::cli::run());
}

/// Mesa's implicit Vulkan layer `device_select` only reorders GPUs for desktop sessions, and
/// to do so it connects to Wayland, which prints `error: XDG_RUNTIME_DIR is invalid or not
/// set in the environment.` on every `--device wgpu` command run outside a desktop session
/// (servers, CI, containers). advbn picks its device itself, so it turns the layer off unless
/// the user asked for it (`MESA_VK_DEVICE_SELECT`) or set `NODEVICE_SELECT` themselves.
fn quiet_mesa_device_select() {
    let user_chose =
        std::env::var_os("NODEVICE_SELECT").is_some() || std::env::var_os("MESA_VK_DEVICE_SELECT").is_some();
    if !user_chose {
        // SAFETY: called first thing in `main`, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
